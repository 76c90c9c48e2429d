// Package e2e holds the whole-stack tests: a real HAProxy 2.6, a real Data
// Plane API (found through $DATAPLANEAPI or PATH; without it the tests that
// need it print one "SKIP: dataplaneapi not found" line), the Marathon
// simulator and the marathon-dataplane binary, all on loopback.
package e2e
