// Package runtimeapi is the client of HAProxy's Runtime API (the stats
// socket): server address, weight and state changes, dynamic servers, maps
// and the state and statistics dumps. It is how task churn reaches HAProxy
// without a reload. It knows the command syntax and the answers of HAProxy
// 2.6 (including its pitfalls: see AddServer); it never decides what to
// change, and never edits the configuration file: what it changes is lost
// at the next reload unless the caller also persists it.
package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	defaultTimeout = 5 * time.Second
	// maxLineBytes bounds one line sent to the CLI: HAProxy documents that
	// a line must fit in tune.bufsize (16 KiB by default).
	maxLineBytes = 8 << 10
	// prompt is what HAProxy writes after every command in interactive
	// mode ("\n> "): the delimiter ExecuteBatch splits answers on.
	prompt = "\n> "
)

// Client sends commands to one HAProxy stats socket. Each call opens its
// own connection, so a Client is safe for concurrent use.
type Client struct {
	network, addr string
	timeout       time.Duration
	log           *zap.Logger
	// iids are the backends' numeric ids by name (ShowStat).
	mu   sync.Mutex
	iids map[string]string
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds each command (default 5s). ExecuteBatch applies it to
// every write and read, so a long batch may take longer as long as HAProxy
// keeps answering.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger logs each exchange at debug level (default: no logs).
func WithLogger(l *zap.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// New parses address: "/path/to/sock", "unix:/path" or "unix@/path" is a
// unix socket; "tcp:127.0.0.1:9999", "127.0.0.1:9999", "ipv4@127.0.0.1:9999"
// or "ipv6@[::1]:9999" is TCP. It does not connect.
func New(address string, opts ...Option) (*Client, error) {
	network, addr, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	c := &Client{network: network, addr: addr, timeout: defaultTimeout, log: zap.NewNop()}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func parseAddress(a string) (network, addr string, err error) {
	a = strings.TrimSpace(a)
	for _, p := range []string{"unix:", "unix@"} {
		if rest, ok := strings.CutPrefix(a, p); ok {
			if rest == "" {
				return "", "", fmt.Errorf("runtimeapi: address %q: empty socket path: %w", a, ErrInvalidArgument)
			}
			return "unix", rest, nil
		}
	}
	if strings.HasPrefix(a, "/") || strings.HasPrefix(a, "./") || strings.HasPrefix(a, "../") {
		return "unix", a, nil
	}
	hostport := a
	for _, p := range []string{"tcp:", "tcp@", "ipv4@", "ipv6@"} {
		if rest, ok := strings.CutPrefix(a, p); ok {
			hostport = rest
			break
		}
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", "", fmt.Errorf("runtimeapi: address %q: want /path, unix:/path, unix@/path, tcp:host:port, host:port or ipv4@host:port: %w", a, ErrInvalidArgument)
	}
	if p, perr := strconv.Atoi(port); host == "" || perr != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("runtimeapi: address %q: need a host and a port in 1..65535: %w", a, ErrInvalidArgument)
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// Address is the socket as "unix:/path" or "tcp:host:port".
func (c *Client) Address() string { return c.network + ":" + c.addr }

// Execute sends one command on a fresh connection (non-interactive mode)
// and returns HAProxy's answer without the delimiter HAProxy appends after
// every command (the final newline). The error is a transport error
// (ErrUnreachable), or a *CommandError when the answer is one HAProxy only
// prints on failure (see CheckAnswer); the answer is returned either way.
// Commands containing ';' or a newline are refused (HAProxy would run them
// as several commands), and so are "prompt", "quit" and payloads ("<<").
func (c *Client) Execute(ctx context.Context, cmd string) (string, error) {
	if err := checkCommand(cmd); err != nil {
		return "", err
	}
	start := time.Now()
	raw, err := c.exchange(ctx, []byte(cmd+"\n"), true)
	if err != nil {
		err = fmt.Errorf("runtimeapi: %s: %q: %w", c.Address(), cmd, err)
		c.log.Debug("runtime api", zap.String("op", "execute"), zap.String("command", cmd), zap.Duration("duration", time.Since(start)), zap.Error(err))
		return "", err
	}
	// Some 2.6 errors lack their own newline ("No such backend." from add
	// server), so the delimiter is the only one: strip exactly one.
	answer := strings.TrimSuffix(string(raw), "\n")
	err = CheckAnswer(cmd, answer)
	c.log.Debug("runtime api", zap.String("op", "execute"), zap.String("command", cmd), zap.Duration("duration", time.Since(start)), zap.Error(err))
	return answer, err
}

// ExecuteBatch sends cmds on one connection, written in one go, and
// returns one answer per command (without delimiters), in order. HAProxy runs them one
// after the other, not atomically, and keeps going after a failure.
//
// Framing: in non-interactive mode HAProxy ends each answer with an empty
// line, but on 2.6 some error answers ("No such backend.", "Backend must use
// a dynamic load balancing…", "Only servers in maintenance mode can be
// deleted.") lack their own newline, so that empty line is missing and two
// answers run together. The interactive mode prints the prompt "\n> " after
// every answer, failing or not, so the batch is sent as
// "prompt\n<cmd>;<cmd>…\n…quit\n" (commands joined with ';' in lines of at
// most 8 KiB, under tune.bufsize) and the answers are split on the prompt.
//
// The error is a transport or framing error (no answers then), or, with all
// answers returned, the errors.Join of a *CommandError per answer that
// CheckAnswer recognises as a failure.
func (c *Client) ExecuteBatch(ctx context.Context, cmds []string) ([]string, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	for _, cmd := range cmds {
		if err := checkCommand(cmd); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var req bytes.Buffer
	req.WriteString("prompt\n")
	line := 0
	for i, cmd := range cmds {
		if i > 0 {
			if line+1+len(cmd) > maxLineBytes {
				req.WriteByte('\n')
				line = 0
			} else {
				req.WriteByte(';')
				line++
			}
		}
		req.WriteString(cmd)
		line += len(cmd)
	}
	req.WriteString("\nquit\n")

	raw, err := c.exchange(ctx, req.Bytes(), false)
	var answers []string
	if err == nil {
		answers, err = splitPrompted(string(raw), len(cmds))
	}
	if err != nil {
		err = fmt.Errorf("runtimeapi: %s: batch of %d commands (first %q): %w", c.Address(), len(cmds), cmds[0], err)
		c.log.Debug("runtime api", zap.String("op", "batch"), zap.Int("commands", len(cmds)), zap.Duration("duration", time.Since(start)), zap.Error(err))
		return nil, err
	}
	var errs []error
	for i, a := range answers {
		if e := CheckAnswer(cmds[i], a); e != nil {
			errs = append(errs, e)
		}
	}
	err = errors.Join(errs...)
	c.log.Debug("runtime api", zap.String("op", "batch"), zap.Int("commands", len(cmds)), zap.Duration("duration", time.Since(start)), zap.Error(err))
	return answers, err
}

// splitPrompted splits an interactive-mode transcript: "\n> " (the prompt
// after "prompt"), then each answer followed by "\n> ", then EOF (quit).
func splitPrompted(raw string, n int) ([]string, error) {
	rest, ok := strings.CutPrefix(raw, prompt)
	if !ok {
		return nil, fmt.Errorf("%w: no prompt in %q", ErrProtocol, firstLine(raw))
	}
	parts := strings.Split(rest, prompt)
	if len(parts) != n+1 || parts[n] != "" {
		return nil, fmt.Errorf("%w: got %d answers for %d commands", ErrProtocol, len(parts)-1, n)
	}
	return parts[:n], nil
}

func checkCommand(cmd string) error {
	switch {
	case strings.TrimSpace(cmd) == "":
		return fmt.Errorf("runtimeapi: empty command: %w", ErrInvalidArgument)
	case strings.ContainsAny(cmd, "\n\r"):
		return fmt.Errorf("runtimeapi: command %q contains a newline: %w", cmd, ErrInvalidArgument)
	case strings.Contains(cmd, ";"):
		return fmt.Errorf("runtimeapi: command %q contains ';' (HAProxy's command separator): %w", cmd, ErrInvalidArgument)
	case strings.HasSuffix(strings.TrimSpace(cmd), "<<"):
		return fmt.Errorf("runtimeapi: command %q asks for a payload, which is not supported: %w", cmd, ErrInvalidArgument)
	}
	switch strings.Fields(cmd)[0] {
	case "prompt", "quit":
		return fmt.Errorf("runtimeapi: command %q would change the session mode: %w", cmd, ErrInvalidArgument)
	}
	return nil
}

// exchange writes req on a fresh connection and reads until HAProxy closes
// it. Writing and reading run concurrently so that a large batch cannot
// deadlock with HAProxy waiting for its answers to be read. Each write and
// read must make progress within the timeout; ctx cancels the exchange.
//
// halfClose shuts the write side after the request, as `echo cmd | socat`
// does: harmless for one non-interactive command. Never in interactive
// mode: HAProxy 2.6 takes the shutdown as the client leaving and drops the
// commands it has not read yet (the connection is reset), so a batch ends
// with "quit" instead.
func (c *Client) exchange(ctx context.Context, req []byte, halfClose bool) ([]byte, error) {
	var out bytes.Buffer
	if err := c.exchangeTo(ctx, req, halfClose, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// exchangeTo is exchange writing the answer to out as it arrives; an
// error from out ends the exchange with it.
func (c *Client) exchangeTo(ctx context.Context, req []byte, halfClose bool, out io.Writer) error {
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, c.network, c.addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	werr := make(chan error, 1)
	go func() {
		for off := 0; off < len(req); {
			end := min(off+maxLineBytes, len(req))
			if err := conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
				werr <- err
				return
			}
			n, err := conn.Write(req[off:end])
			if err != nil {
				werr <- err
				return
			}
			off += n
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && halfClose {
			_ = cw.CloseWrite()
		}
		werr <- nil
	}()

	buf := make([]byte, 32<<10)
	var rerr, outErr error
	for {
		if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			rerr = err
			break
		}
		n, err := conn.Read(buf)
		if _, err := out.Write(buf[:n]); err != nil {
			outErr = err
			break
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr != nil || outErr != nil {
		_ = conn.Close() // unblocks the writer
	}
	if err := <-werr; err != nil && rerr == nil {
		rerr = err
	}
	if outErr != nil {
		return outErr
	}
	if rerr != nil {
		if ctx.Err() != nil {
			rerr = ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrUnreachable, rerr)
	}
	return nil
}
