package marathon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxSSELine bounds one line and one event's data: an api_post_event holds a
// whole app definition, but nothing legitimate comes near 16 MiB, and a
// broken peer must not make us buffer without end.
const maxSSELine = 16 << 20

// sseMessage is one dispatched server-sent event, before any JSON.
type sseMessage struct {
	Event string // the "event:" name; "message" when absent (W3C default)
	ID    string // the last "id:" seen, which persists across events
	Data  string // "data:" lines joined with "\n"
}

// sseDecoder parses the W3C EventSource format from a reader: lines end
// with CRLF, LF or CR; "field: value" lines build an event; lines starting
// with ':' are comments (keepalives); a blank line dispatches. It does no
// I/O of its own and keeps no clock, so it is tested on strings.
type sseDecoder struct {
	sc      *bufio.Scanner
	max     int
	skipLF  bool // the last line ended with CR: a following LF belongs to it
	started bool // the BOM check is done
	lastID  string
}

func newSSEDecoder(r io.Reader, maxLine int) *sseDecoder {
	d := &sseDecoder{sc: bufio.NewScanner(r), max: maxLine}
	d.sc.Buffer(make([]byte, 0, 4096), maxLine)
	d.sc.Split(d.splitLine)
	return d
}

// splitLine is a bufio.SplitFunc for the three SSE line endings. A CR
// ends its line at once (a CR-only peer is not delayed until its next
// byte); an LF right after it is skipped with the next line. It never
// consumes input without returning a token before EOF: bufio.Scanner would
// then block on a read while a whole line sits in its buffer.
func (d *sseDecoder) splitLine(data []byte, atEOF bool) (int, []byte, error) {
	skip := 0
	if d.skipLF && len(data) > 0 && data[0] == '\n' {
		skip = 1
	}
	if i := bytes.IndexAny(data[skip:], "\r\n"); i >= 0 {
		d.skipLF = data[skip+i] == '\r'
		return skip + i + 1, data[skip : skip+i], nil
	}
	if !atEOF {
		return 0, nil, nil // state unchanged: the same bytes come back with more
	}
	d.skipLF = false
	if len(data) > skip {
		return len(data), data[skip:], nil
	}
	return len(data), nil, nil
}

// next returns the next event with data. It returns io.EOF at the end of
// the input; an event not closed by a blank line before the end is dropped,
// as the W3C format requires.
func (d *sseDecoder) next() (sseMessage, error) {
	var (
		data    strings.Builder
		hasData bool
		event   string
	)
	for d.sc.Scan() {
		line := d.sc.Bytes()
		if !d.started {
			d.started = true
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 {
			if !hasData {
				event = "" // an event without data is not dispatched
				continue
			}
			if event == "" {
				event = "message"
			}
			return sseMessage{Event: event, ID: d.lastID, Data: data.String()}, nil
		}
		if line[0] == ':' {
			continue // comment: Marathon and proxies use these as keepalives
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			if data.Len()+len(value)+1 > d.max {
				return sseMessage{}, fmt.Errorf("event data longer than %d bytes", d.max)
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				d.lastID = string(value)
			}
		}
		// "retry" and unknown fields are ignored: reconnecting is the caller's job.
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sseMessage{}, fmt.Errorf("event stream line longer than %d bytes: %w", d.max, err)
		}
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}

// maxEventExcerpt bounds the event text quoted in a parse error.
const maxEventExcerpt = 120

// marathonEvents turns one SSE message into Marathon events. Marathon puts
// one JSON object per data line; marathon-lb split the data on "\r\n", so
// the data is read as a sequence of JSON values, which also accepts one
// object spread over several lines. Empty data yields no event, as in
// marathon-lb. Anything that is not a JSON object is an error.
func marathonEvents(m sseMessage, at time.Time) ([]Event, error) {
	dec := json.NewDecoder(strings.NewReader(m.Data))
	var out []Event
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("marathon event %q: %w: %w%s: %q", m.Event, ErrInvalidResponse, err, jsonOffset(err), excerpt(m.Data, maxEventExcerpt))
		}
		var head struct {
			EventType string `json:"eventType"`
		}
		if raw[0] != '{' || json.Unmarshal(raw, &head) != nil {
			return nil, fmt.Errorf("marathon event %q: %w: not a JSON object with a string eventType: %q", m.Event, ErrInvalidResponse, excerpt(string(raw), maxEventExcerpt))
		}
		typ := head.EventType
		if typ == "" {
			typ = m.Event
		}
		out = append(out, Event{Type: typ, Data: raw, ReceivedAt: at})
	}
}
