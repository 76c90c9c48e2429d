package sync

import (
	"context"
	"fmt"
	"net"
	stdsync "sync"
	"time"
)

// DNSResolver resolves agent host names to IPv4 addresses with a bounded,
// time-limited cache. marathon-lb caches forever (§10); a TTL lets a moved
// agent IP heal without a restart.
type DNSResolver struct {
	TTL     time.Duration
	Timeout time.Duration
	MaxSize int
	lookup  func(ctx context.Context, host string) ([]net.IP, error)

	mu    stdsync.Mutex
	cache map[string]cachedIP
	now   func() time.Time
}

type cachedIP struct {
	ip      string
	expires time.Time
}

// NewDNSResolver returns a resolver using the system resolver.
func NewDNSResolver(ttl time.Duration, maxSize int) *DNSResolver {
	return &DNSResolver{
		TTL: ttl, Timeout: 3 * time.Second, MaxSize: maxSize,
		lookup: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip4", host)
		},
		cache: map[string]cachedIP{}, now: time.Now,
	}
}

// LookupHost returns host itself when it is an IP address, else its first
// IPv4 address. Failures are not cached.
func (r *DNSResolver) LookupHost(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	r.mu.Lock()
	c, ok := r.cache[host]
	r.mu.Unlock()
	if ok && r.now().Before(c.expires) {
		return c.ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	ips, err := r.lookup(ctx, host)
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no IPv4 address for %s", host)
	}
	ip := ips[0].String()
	r.mu.Lock()
	if len(r.cache) >= r.MaxSize {
		// Dropping everything is crude but bounded; a cold miss costs one lookup.
		r.cache = map[string]cachedIP{}
	}
	r.cache[host] = cachedIP{ip: ip, expires: r.now().Add(r.TTL)}
	r.mu.Unlock()
	return ip, nil
}
