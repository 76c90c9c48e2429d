package bluegreen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHTTPStats reads marathon-lb's stats CSV from every address behind
// the --marathon-lb host name.
func TestHTTPStats(t *testing.T) {
	header := "pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,act,bck,type,check_status,addr,mode"
	values := map[string]string{"pxname": "bg_10000", "svname": "10_0_0_1_31000", "qcur": "0", "scur": "0", "stot": "5",
		"status": "MAINT", "weight": "1", "act": "1", "bck": "0", "type": "2", "addr": "10.0.0.1:31000", "mode": "http"}
	var row []string
	for _, c := range strings.Split(header, ",") {
		row = append(row, values[c])
	}
	csv := "# " + header + ",\n" + strings.Join(row, ",") + ",\n"
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		_, _ = w.Write([]byte(csv))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	h, err := NewHTTPStats("http://marathon-lb.example:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.Lookup = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1", "127.0.0.1"}, nil }
	lbs, err := h.Rows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(lbs) != 2 || len(paths) != 2 || paths[0] != "/haproxy?stats;csv" {
		t.Fatalf("%d instances read, requests %v", len(lbs), paths)
	}
	found := false
	for _, r := range lbs[0] {
		if r.Proxy == "bg_10000" && r.Addr == "10.0.0.1:31000" && inMaint(r) && r.Scur == 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("rows %+v", lbs[0])
	}
	if _, err := NewHTTPStats("not a url", time.Second); err == nil {
		t.Fatal("a bad --marathon-lb was accepted")
	}
}
