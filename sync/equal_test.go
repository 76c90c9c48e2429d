package sync

import (
	"reflect"
	"testing"

	"github.com/marathon-dataplane/marathon-dataplane/dataplane"
)

// TestEqualAgreesWithDeepEqual changes every field of a server and a
// backend in turn, so a field added to the models without a matching line
// in equal.go fails here.
func TestEqualAgreesWithDeepEqual(t *testing.T) {
	check := func(name string, base any, eq func(a, b any) bool) {
		v := reflect.ValueOf(base)
		for i := 0; i < v.NumField(); i++ {
			other := reflect.New(v.Type()).Elem()
			other.Set(v)
			f := other.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Pointer:
				n := reflect.New(f.Type().Elem())
				if !f.IsNil() {
					n.Elem().Set(f.Elem())
				}
				if n.Elem().Kind() == reflect.Int64 {
					n.Elem().SetInt(n.Elem().Int() + 1)
				} else {
					n.Elem().Field(0).SetString(n.Elem().Field(0).String() + "x")
				}
				f.Set(n)
			default:
				t.Fatalf("%s.%s: unhandled kind %s", name, v.Type().Field(i).Name, f.Kind())
			}
			if eq(base, other.Interface()) {
				t.Errorf("%s.%s changed but compared equal", name, v.Type().Field(i).Name)
			}
			if f.Kind() == reflect.Pointer {
				// The same value in another allocation compares equal:
				// a pointer field missing from equal.go compares addresses.
				twin := reflect.New(v.Type()).Elem()
				twin.Set(other)
				c := reflect.New(f.Type().Elem())
				c.Elem().Set(f.Elem())
				twin.Field(i).Set(c)
				if !eq(other.Interface(), twin.Interface()) {
					t.Errorf("%s.%s: equal values in distinct allocations compared unequal", name, v.Type().Field(i).Name)
				}
			}
		}
		if !eq(base, base) {
			t.Errorf("%s not equal to itself", name)
		}
	}
	srv := dataplane.Server{Name: "s", Address: "a", Port: dataplane.Int64(1), ID: dataplane.Int64(2)}
	check("Server", srv, func(a, b any) bool { return serverEqual(a.(dataplane.Server), b.(dataplane.Server)) })
	opts := dataplane.ServerOptions{Backup: "enabled", Maxconn: dataplane.Int64(3)}
	check("ServerOptions", opts, func(a, b any) bool {
		x, y := a.(dataplane.ServerOptions), b.(dataplane.ServerOptions)
		return serverOptionsEqual(&x, &y)
	})
	if serverEqual(srv, dataplane.Server{Name: "s", Address: "a", Port: dataplane.Int64(1), ID: dataplane.Int64(2), Options: &dataplane.ServerOptions{}}) {
		t.Error("a server with options compared equal to one without")
	}
	be := dataplane.Backend{Name: "b", Balance: &dataplane.Balance{Algorithm: "roundrobin"}}
	check("Backend", be, func(a, b any) bool { return backendEqual(a.(dataplane.Backend), b.(dataplane.Backend)) })
	// Two equal values in distinct allocations compare equal.
	if !serverEqual(srv, dataplane.Server{Name: "s", Address: "a", Port: dataplane.Int64(1), ID: dataplane.Int64(2)}) {
		t.Error("equal servers compared unequal")
	}
}
