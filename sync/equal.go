package sync

import "github.com/marathon-dataplane/marathon-dataplane/dataplane"

// Value comparisons for the objects a diff compares by the thousand:
// reflect.DeepEqual allocates for every pointer field it follows, which
// dominated the cost of a diff at 1,000 apps. equal_test.go keeps these in
// step with reflect.DeepEqual, field by field.

func eqPtr[T comparable](a, b *T) bool { return a == b || (a != nil && b != nil && *a == *b) }

func serverEqual(a, b dataplane.Server) bool {
	if !eqPtr(a.Port, b.Port) || !eqPtr(a.ID, b.ID) || !eqPtr(a.Weight, b.Weight) || !eqPtr(a.Inter, b.Inter) ||
		!eqPtr(a.Fall, b.Fall) || !eqPtr(a.Rise, b.Rise) || !eqPtr(a.HealthCheckPort, b.HealthCheckPort) ||
		!serverOptionsEqual(a.Options, b.Options) {
		return false
	}
	a.Port, a.ID, a.Weight, a.Inter, a.Fall, a.Rise, a.HealthCheckPort = b.Port, b.ID, b.Weight, b.Inter, b.Fall, b.Rise, b.HealthCheckPort
	a.Options = b.Options
	return a == b
}

func serverOptionsEqual(a, b *dataplane.ServerOptions) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || !eqPtr(a.Maxconn, b.Maxconn) || !eqPtr(a.AgentPort, b.AgentPort) || !eqPtr(a.AgentInter, b.AgentInter) {
		return false
	}
	x, y := *a, *b
	x.Maxconn, x.AgentPort, x.AgentInter = y.Maxconn, y.AgentPort, y.AgentInter
	return x == y
}

func backendEqual(a, b dataplane.Backend) bool {
	if !eqPtr(a.Balance, b.Balance) || !eqPtr(a.HashType, b.HashType) || !eqPtr(a.HttpchkParams, b.HttpchkParams) ||
		!eqPtr(a.CheckTimeout, b.CheckTimeout) || !eqPtr(a.Forwardfor, b.Forwardfor) || !eqPtr(a.Cookie, b.Cookie) ||
		!eqPtr(a.ServerTimeout, b.ServerTimeout) || !eqPtr(a.ConnectTimeout, b.ConnectTimeout) || !eqPtr(a.QueueTimeout, b.QueueTimeout) ||
		!eqPtr(a.TunnelTimeout, b.TunnelTimeout) || !eqPtr(a.HTTPRequestTimeout, b.HTTPRequestTimeout) || !eqPtr(a.HTTPKeepAliveTimeout, b.HTTPKeepAliveTimeout) {
		return false
	}
	a.Balance, a.HashType, a.HttpchkParams, a.CheckTimeout, a.Forwardfor, a.Cookie = b.Balance, b.HashType, b.HttpchkParams, b.CheckTimeout, b.Forwardfor, b.Cookie
	a.ServerTimeout, a.ConnectTimeout, a.QueueTimeout, a.TunnelTimeout, a.HTTPRequestTimeout, a.HTTPKeepAliveTimeout = b.ServerTimeout, b.ConnectTimeout, b.QueueTimeout, b.TunnelTimeout, b.HTTPRequestTimeout, b.HTTPKeepAliveTimeout
	return a == b
}
