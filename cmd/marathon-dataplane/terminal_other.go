//go:build !linux

package main

import "os"

// isTerminal approximates a terminal as a character device off Linux.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
