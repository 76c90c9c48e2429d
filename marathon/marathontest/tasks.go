package marathontest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// taskServer is the "process" of a task: one real listener per app port.
// Each answers HTTP with the app and task id; a raw TCP client that sends
// nothing for 200 ms gets the same line as a banner, so tcp-mode apps can be
// tested too.
type taskServer struct {
	appID, taskID string
	// healthPaths are the app's HTTP health-check paths; an unhealthy task
	// fails those (its health checks) and keeps serving everything else.
	healthPaths map[string]bool
	listeners   []net.Listener
	servers     []*http.Server
	healthy     atomic.Bool
	wg          sync.WaitGroup
	once        sync.Once
}

func startTaskServer(appID, taskID string, addrs []string, healthPaths map[string]bool) (*taskServer, error) {
	ts := &taskServer{appID: appID, taskID: taskID, healthPaths: healthPaths}
	ts.healthy.Store(true)
	for i, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			ts.close()
			return nil, fmt.Errorf("task %s port %d: listen %s: %w", taskID, i, a, err)
		}
		ts.listeners = append(ts.listeners, l)
		sl := &sniffListener{raw: l, conns: make(chan net.Conn), done: make(chan struct{}), banner: ts.banner(i)}
		srv := &http.Server{Handler: ts.handler(i), ReadHeaderTimeout: 5 * time.Second}
		ts.servers = append(ts.servers, srv)
		ts.wg.Add(2)
		go func() { defer ts.wg.Done(); sl.acceptLoop(&ts.wg) }()
		go func() { defer ts.wg.Done(); _ = srv.Serve(sl) }()
	}
	return ts, nil
}

func (ts *taskServer) ports() []int {
	out := make([]int, len(ts.listeners))
	for i, l := range ts.listeners {
		out[i] = l.Addr().(*net.TCPAddr).Port
	}
	return out
}

func (ts *taskServer) banner(index int) string {
	return fmt.Sprintf("app=%s task=%s port=%d\n", ts.appID, ts.taskID, index)
}

// sniffListener hands connections whose client speaks first to the HTTP
// server and greets silent ones with the banner.
type sniffListener struct {
	raw    net.Listener
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	banner string
}

func (l *sniffListener) acceptLoop(wg *sync.WaitGroup) {
	for {
		c, err := l.raw.Accept()
		if err != nil {
			_ = l.Close()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.sniff(c)
		}()
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br.Peek(1); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(l.banner))
		}
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.conns <- &peekedConn{Conn: c, r: br}:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *sniffListener) Addr() net.Addr { return l.raw.Addr() }

func (ts *taskServer) handler(index int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !ts.healthy.Load() && (len(ts.healthPaths) == 0 || ts.healthPaths[r.URL.Path]) {
			http.Error(w, "unhealthy\n", http.StatusServiceUnavailable)
			return
		}
		if ms, err := strconv.Atoi(r.URL.Query().Get("slow_ms")); err == nil && ms > 0 {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Marathon-App-Id", ts.appID)
		w.Header().Set("X-Task-Id", ts.taskID)
		fmt.Fprint(w, ts.banner(index))
		fmt.Fprintf(w, "host=%s path=%s\n", r.Host, r.URL.Path)
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"} {
			if v := r.Header.Get(h); v != "" {
				fmt.Fprintf(w, "%s=%s\n", h, v)
			}
		}
	})
	return mux
}

func (ts *taskServer) close() {
	ts.once.Do(func() {
		for _, l := range ts.listeners {
			_ = l.Close()
		}
		for _, srv := range ts.servers {
			_ = srv.Close()
		}
	})
	ts.wg.Wait()
}

// check performs a real health check against port index i.
func (ts *taskServer) check(ctx context.Context, protocol, host, path string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	switch protocol {
	case "TCP", "MESOS_TCP":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	case "COMMAND":
		return nil
	}
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
