package marathon

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// decodeAll runs the decoder to the end.
func decodeAll(r io.Reader, maxLine int) ([]sseMessage, error) {
	d := newSSEDecoder(r, maxLine)
	var out []sseMessage
	for {
		m, err := d.next()
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestSSEDecoder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sseMessage
	}{
		{name: "LF", in: "event: a\ndata: {}\n\n", want: []sseMessage{{Event: "a", Data: "{}"}}},
		{name: "CRLF (Jetty)", in: "event: a\r\ndata: {}\r\n\r\n", want: []sseMessage{{Event: "a", Data: "{}"}}},
		{name: "CR", in: "event: a\rdata: {}\r\r", want: []sseMessage{{Event: "a", Data: "{}"}}},
		{name: "mixed endings", in: "event: a\r\ndata: 1\rdata: 2\n\r\n", want: []sseMessage{{Event: "a", Data: "1\n2"}}},
		{name: "data lines joined with LF", in: "data: a\ndata: b\ndata: c\n\n", want: []sseMessage{{Event: "message", Data: "a\nb\nc"}}},
		{name: "no space after colon", in: "event:x\ndata:v\n\n", want: []sseMessage{{Event: "x", Data: "v"}}},
		{name: "only one space is stripped", in: "data:  v \n\n", want: []sseMessage{{Event: "message", Data: " v "}}},
		{name: "colon in value", in: "data: {\"a\":\"b:c\"}\n\n", want: []sseMessage{{Event: "message", Data: `{"a":"b:c"}`}}},
		{name: "field without colon", in: "data\n\n", want: []sseMessage{{Event: "message", Data: ""}}},
		{name: "comments are keepalives", in: ": ping\n:\ndata: x\n: inside\n\n", want: []sseMessage{{Event: "message", Data: "x"}}},
		{name: "blank keepalives", in: "\r\n\r\n\n\n", want: nil},
		{name: "event without data is dropped and forgotten", in: "event: a\n\ndata: x\n\n", want: []sseMessage{{Event: "message", Data: "x"}}},
		{name: "id persists", in: "id: 7\ndata: a\n\ndata: b\n\n", want: []sseMessage{{Event: "message", ID: "7", Data: "a"}, {Event: "message", ID: "7", Data: "b"}}},
		{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []sseMessage{{Event: "message", ID: "1", Data: "a"}, {Event: "message", ID: "1", Data: "b"}}},
		{name: "retry and unknown fields ignored", in: "retry: 10\nfoo: bar\ndata: x\n\n", want: []sseMessage{{Event: "message", Data: "x"}}},
		{name: "BOM", in: "\uFEFFdata: x\n\n", want: []sseMessage{{Event: "message", Data: "x"}}},
		{name: "unterminated event dropped", in: "data: a\n\ndata: b\n", want: []sseMessage{{Event: "message", Data: "a"}}},
		{name: "unterminated line dropped", in: "data: a\n\ndata: b", want: []sseMessage{{Event: "message", Data: "a"}}},
		{name: "several events", in: "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", want: []sseMessage{{Event: "a", Data: "1"}, {Event: "b", Data: "2"}}},
		{name: "empty input", in: "", want: nil},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := decodeAll(mk(tt.in), 1<<10)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("end error = %v, want io.EOF", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %+v\nwant %+v", got, tt.want)
				}
			})
		}
	}
}

func TestSSEDecoderLimits(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{name: "long line", in: "data: " + strings.Repeat("x", 100) + "\n\n"},
		{name: "long line without end", in: "data: " + strings.Repeat("x", 100)},
		{name: "many data lines", in: strings.Repeat("data: "+strings.Repeat("x", 20)+"\n", 10) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(strings.NewReader(tt.in), 64)
			if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "longer than 64 bytes") {
				t.Errorf("err = %v, want a length error", err)
			}
		})
	}
}

func TestSSEDecoderEventsExample(t *testing.T) {
	f, err := os.Open(filepath.Join(examplesDir(t), "events.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs, err := decodeAll(f, maxSSELine)
	if !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	var events []Event
	for _, m := range msgs {
		evs, err := marathonEvents(m, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs...)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	want := []string{EventStreamAttached, EventStatusUpdate, EventStatusUpdate}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("types = %q, want %q", types, want)
	}
	var su StatusUpdateEvent
	if err := events[1].Decode(&su); err != nil {
		t.Fatal(err)
	}
	if su.TaskStatus != TaskFailed || su.AppID != "/foo" || !reflect.DeepEqual(su.Ports, []int{31776}) ||
		su.TaskID != "foo.0664256e-6771-11e5-94e1-be5b2935a987" || su.Host != "srv5.hw.ca1.mesosphere.com" ||
		su.SlaveID != "20150707-153709-218108076-5050-25588-S6" || su.Timestamp != "2015-09-30T12:44:45.681Z" {
		t.Errorf("status update = %+v", su)
	}
}

func TestMarathonEvents(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		msg       sseMessage
		wantTypes []string
		wantErr   string
	}{
		{name: "type from JSON", msg: sseMessage{Event: "other", Data: `{"eventType":"status_update_event"}`}, wantTypes: []string{EventStatusUpdate}},
		{name: "type from SSE name", msg: sseMessage{Event: "deployment_success", Data: `{"id":"d"}`}, wantTypes: []string{EventDeploymentSuccess}},
		{name: "one object per data line", msg: sseMessage{Event: "x", Data: "{\"eventType\":\"a\"}\n{\"eventType\":\"b\"}"}, wantTypes: []string{"a", "b"}},
		{name: "object over several lines", msg: sseMessage{Event: "x", Data: "{\n\"eventType\": \"a\"\n}"}, wantTypes: []string{"a"}},
		{name: "empty data", msg: sseMessage{Event: "x", Data: ""}, wantTypes: nil},
		{name: "blank data", msg: sseMessage{Event: "x", Data: " \n "}, wantTypes: nil},
		{name: "invalid JSON", msg: sseMessage{Event: "x", Data: `{"eventType":`}, wantErr: `{\"eventType\":`},
		{name: "garbage after object", msg: sseMessage{Event: "x", Data: `{"eventType":"a"} oops`}, wantErr: "invalid character"},
		{name: "number", msg: sseMessage{Event: "x", Data: `5`}, wantErr: "not a JSON object"},
		{name: "null", msg: sseMessage{Event: "x", Data: `null`}, wantErr: "not a JSON object"},
		{name: "array", msg: sseMessage{Event: "x", Data: `[]`}, wantErr: "not a JSON object"},
		{name: "eventType not a string", msg: sseMessage{Event: "x", Data: `{"eventType":1}`}, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := marathonEvents(tt.msg, at)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidResponse containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
				if !e.ReceivedAt.Equal(at) || len(e.Data) == 0 {
					t.Errorf("event = %+v", e)
				}
			}
			if !reflect.DeepEqual(types, tt.wantTypes) {
				t.Errorf("types = %q, want %q", types, tt.wantTypes)
			}
		})
	}
}

func TestMarathonEventsErrorIsBounded(t *testing.T) {
	data := `{"eventType":"api_post_event","x":"` + strings.Repeat("y", 100000)
	_, err := marathonEvents(sseMessage{Event: "api_post_event", Data: data}, time.Now())
	if !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("err = %v", err)
	}
	if len(err.Error()) > 600 || !strings.Contains(err.Error(), `{\"eventType\":\"api_post_event\"`) {
		t.Errorf("error is %d bytes, want a short excerpt naming the event: %.300s", len(err.Error()), err)
	}
}

// A live stream stays open: a complete event must come out without the
// decoder waiting for more bytes (or for EOF).
func TestSSEDecoderDoesNotWaitForMoreInput(t *testing.T) {
	for name, frame := range map[string]string{
		"LF":          "data: {}\n\n",
		"CRLF":        "data: {}\r\n\r\n",
		"CR":          "data: {}\r\r",
		"CRLF+LF":     "data: {}\r\n\n",
		"after CRLFs": "\r\n\r\n: keepalive\r\n\r\ndata: {}\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte(frame)) // then the writer stays open and silent
			got := make(chan error, 1)
			go func() {
				_, err := newSSEDecoder(pr, 1<<10).next()
				got <- err
			}()
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(waitLimit):
				t.Fatal("decoder waited for more input after a complete event")
			}
		})
	}
}
