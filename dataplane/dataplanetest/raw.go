package dataplanetest

import (
	"crypto/md5" //nolint:gosec // the API's checksum is md5
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// The API writes these header lines at the top of haproxy.cfg and
// replaces them in a posted text (notes §1, §5).
const (
	hdrMD5     = "# _md5hash="
	hdrVersion = "# _version="
	hdrManaged = "# Dataplaneapi managed File"
	hdrWarning = "# changing file directly can cause a conflict if dataplaneapi is running"
)

// stripHeader removes the API's header lines from a configuration text.
func stripHeader(text string) string {
	lines := strings.SplitAfter(text, "\n")
	i := 0
	for i < len(lines) {
		l := strings.TrimRight(lines[i], "\r\n")
		if strings.HasPrefix(l, hdrMD5) || strings.HasPrefix(l, hdrVersion) || l == hdrManaged || l == hdrWarning {
			i++
			continue
		}
		break
	}
	return strings.Join(lines[i:], "")
}

// headerVersionOf returns the "# _version=" of a posted text, if any.
func headerVersionOf(text string) (int64, bool) {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, hdrVersion) {
			v, err := strconv.ParseInt(strings.TrimPrefix(l, hdrVersion), 10, 64)
			return v, err == nil
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			break
		}
	}
	return 0, false
}

// rawFile renders the file as the API serves it, and its checksum.
func rawFile(body string, version int64) (string, string) {
	sum := md5.Sum([]byte(body)) //nolint:gosec
	hash := hex.EncodeToString(sum[:])
	return hdrMD5 + hash + "\n" + hdrVersion + strconv.FormatInt(version, 10) + "\n" + hdrManaged + "\n" + hdrWarning + "\n" + body, hash
}

// The fake has no haproxy.cfg renderer or parser. So that a text rendered
// from one view and posted back (a full configuration commit, or
// persisting runtime changes) carries the structured objects with it, as
// the real API's render and parse do, the served text starts (after the
// API's header) with one comment line holding the view's objects; a posted text that has it replaces the
// objects. Texts without it leave the objects alone, as before.
const hdrModel = "# dataplanetest-model "

type modelChild struct {
	Kind, ParentType, ParentName string
	Objects                      []object
}

type modelDump struct {
	Sections map[string][]object
	Children []modelChild
}

func (c *config) modelLine() string {
	d := modelDump{Sections: c.sections}
	for k, l := range c.children {
		d.Children = append(d.Children, modelChild{Kind: k.kind, ParentType: k.ptype, ParentName: k.pname, Objects: l})
	}
	sort.Slice(d.Children, func(i, j int) bool {
		a, b := d.Children[i], d.Children[j]
		return a.Kind+"\x00"+a.ParentType+"\x00"+a.ParentName < b.Kind+"\x00"+b.ParentType+"\x00"+b.ParentName
	})
	raw, _ := json.Marshal(d)
	return hdrModel + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// splitModel removes the model line from text and decodes it (nil when
// there is none or it does not decode).
func splitModel(text string) (string, *config) {
	i := 0
	if !strings.HasPrefix(text, hdrModel) {
		if i = strings.Index(text, "\n"+hdrModel); i < 0 {
			return text, nil
		}
		i++
	}
	line, rest := text[i:], ""
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line, rest = line[:j], line[j+1:]
	}
	text = text[:i] + rest
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, hdrModel))
	if err != nil {
		return text, nil
	}
	var d modelDump
	if json.Unmarshal(raw, &d) != nil {
		return text, nil
	}
	c := newConfig()
	for k, l := range d.Sections {
		c.sections[k] = l
	}
	for _, ch := range d.Children {
		c.children[childKey{ch.Kind, ch.ParentType, ch.ParentName}] = ch.Objects
	}
	return text, c
}

// getRaw is GET $S/configuration/raw[?transaction_id=].
func (f *Fake) getRaw(w http.ResponseWriter, r *http.Request) {
	cfg, v, e := f.view(r.URL.Query().Get("transaction_id"))
	if e != nil {
		writeError(w, e)
		return
	}
	text, sum := rawFile(cfg.modelLine()+cfg.raw, v)
	w.Header().Set("Configuration-Checksum", sum)
	writeJSON(w, http.StatusOK, map[string]any{"_version": v, "data": text})
}

// postRaw is POST $S/configuration/raw (dataplaneapi handlers/raw.go).
func (f *Fake) postRaw(w http.ResponseWriter, r *http.Request, body []byte) {
	if e := f.postRawErr(w, r, body); e != nil {
		writeError(w, e)
	}
}

func (f *Fake) postRawErr(w http.ResponseWriter, r *http.Request, body []byte) *apiError {
	q := r.URL.Query()
	if e := checkContentType(r, body, "text/plain", "application/json"); e != nil {
		e.msg = strings.Replace(e.msg, "[text/plain application/json]", "[text/plain]", 1)
		return e
	}
	if len(body) == 0 {
		return validationErr(codeRequired, "data in body is required")
	}
	text := string(body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &text); err != nil {
			return newErr(400, "parsing data body from \"\" failed, because %s", err)
		}
	}
	flags := map[string]bool{}
	for _, name := range []string{"skip_version", "skip_reload", "only_validate", "force_reload"} {
		b, e := boolParam(q, name)
		if e != nil {
			return e
		}
		flags[name] = b
	}
	version, _, e := intParam(q, "version")
	if e != nil {
		return e
	}
	if !strings.ContainsRune(text, '\n') {
		return newErr(400, "invalid configuration: no newline character found")
	}
	if !flags["skip_version"] {
		if version == 0 {
			return newErr(400, "version or transaction not specified: version or transaction not specified, specify only one")
		}
		if version != f.version {
			return newErr(409, "version mismatch: version in configuration file is %d, given version is %d", f.version, version)
		}
	}
	newRaw, model := splitModel(stripHeader(text))
	if len(f.failValidation) > 0 {
		msg := f.failValidation[0]
		f.failValidation = f.failValidation[1:]
		if flags["only_validate"] {
			return newErr(400, "validation error: exit status 1") // no details (notes §5)
		}
		// the failed implicit transaction stays listed (notes §3, §5)
		f.txSeq++
		id := newID()
		f.txs[id] = &transaction{seq: f.txSeq, id: id, base: f.version, status: "failed"}
		return newErr(400, "validation error: exit status 1: err transactionId=%s \nmsg=\"%s\"\nmsg=\"config Fatal errors found in configuration.\"", id, msg)
	}
	if flags["only_validate"] {
		cur, sum := rawFile(f.live.raw, f.version)
		w.Header().Set("Configuration-Checksum", sum)
		writeJSON(w, http.StatusAccepted, cur) // version unchanged, nothing written
		return nil
	}
	f.live.raw = newRaw
	if model != nil {
		f.live.sections, f.live.children = model.sections, model.children
	}
	if v, ok := headerVersionOf(text); ok && flags["skip_version"] {
		f.version = v // skip_version adopts the posted "# _version=" (notes §2)
	} else {
		f.version++
	}
	file, sum := rawFile(f.live.raw, f.version)
	w.Header().Set("Configuration-Checksum", sum)
	if flags["skip_reload"] {
		if acts := r.Header.Get("X-Runtime-Actions"); acts != "" {
			if e := f.runActions(acts); e != nil {
				return e // the file was written all the same
			}
		}
		writeJSON(w, http.StatusCreated, file)
		return nil
	}
	if flags["force_reload"] {
		if e := f.forceReload(); e != nil {
			return e
		}
		writeJSON(w, http.StatusCreated, file)
		return nil
	}
	w.Header().Set("Reload-Id", f.scheduleReload())
	writeJSON(w, http.StatusAccepted, file)
	return nil
}
