package control

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultRingSize is how many log entries the daemon keeps in memory, all
// units together. Like journald's size limits, the bound is global: memory
// stays the same whether sockd runs ten units or ten thousand, and a chatty
// unit can push a quiet unit's older lines out.
const DefaultRingSize = 4096

// Entry is one log event about a unit: a line a service printed (PID and
// Stream set) or something sockd did.
type Entry struct {
	Time    time.Time      `json:"time"`
	Level   string         `json:"level"`
	Unit    string         `json:"unit"`
	Message string         `json:"message"`
	PID     int            `json:"pid,omitempty"`
	Stream  string         `json:"stream,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// record is an Entry as the ring stores it: fields stay JSON until read,
// since most entries are never read.
type record struct {
	unix    int64 // Time, in nanoseconds
	level   zapcore.Level
	pid     int32
	unit    string
	message string
	stream  string
	fields  []byte // a JSON object, or nil
}

func (r *record) entry() Entry {
	e := Entry{Time: time.Unix(0, r.unix), Level: r.level.String(), Unit: r.unit, Message: r.message, PID: int(r.pid), Stream: r.stream}
	if r.fields != nil {
		_ = json.Unmarshal(r.fields, &e.Fields) // written by encodeFields
	}
	return e
}

// Ring keeps the last entries of all units in memory and fans new ones out
// to followers. It is safe for concurrent use.
type Ring struct {
	mu   sync.Mutex
	buf  []record // circular once full
	next int      // where the next record goes once buf is full
	subs map[*follower]struct{}
}

type follower struct {
	key  string
	unit string
	ch   chan Entry
}

// NewRing returns a ring keeping the last size entries.
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{buf: make([]record, 0, size), subs: map[*follower]struct{}{}}
}

// ringKey groups Accept=yes instances under their template.
func ringKey(unit string) string {
	at := strings.IndexByte(unit, '@')
	dot := strings.LastIndexByte(unit, '.')
	if at < 0 || dot < at {
		return unit
	}
	return unit[:at+1] + unit[dot:]
}

// matches reports whether an entry of unit belongs in the log of want: the
// unit itself, or any instance when want is a template.
func matches(want, unit string) bool {
	return want == unit || (ringKey(want) == want && ringKey(unit) == want)
}

// Add records e and passes it to the followers of its unit.
func (r *Ring) Add(e Entry) {
	rec := record{unix: e.Time.UnixNano(), pid: int32(e.PID), unit: e.Unit, message: e.Message, stream: e.Stream}
	_ = rec.level.Set(e.Level)
	if len(e.Fields) > 0 {
		rec.fields, _ = json.Marshal(e.Fields)
	}
	r.add(&rec, &e)
}

// add stores rec; e is its Entry if the caller has one already.
func (r *Ring) add(rec *record, e *Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, *rec)
	} else {
		r.buf[r.next] = *rec
		r.next = (r.next + 1) % len(r.buf)
	}
	if len(r.subs) == 0 {
		return
	}
	key := ringKey(rec.unit)
	for f := range r.subs {
		if f.key == key && matches(f.unit, rec.unit) {
			if e == nil {
				x := rec.entry()
				e = &x
			}
			select {
			case f.ch <- *e:
			default: // a slow follower loses lines rather than blocking sockd
			}
		}
	}
}

// Lines returns the last n entries of unit (all kept when n < 0), oldest
// first.
func (r *Ring) Lines(unit string, n int) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lines(unit, n)
}

func (r *Ring) lines(unit string, n int) []Entry {
	var picked []*record
	for i := len(r.buf) - 1; i >= 0 && (n < 0 || len(picked) < n); i-- {
		rec := &r.buf[(r.next+i)%len(r.buf)]
		if matches(unit, rec.unit) {
			picked = append(picked, rec)
		}
	}
	if len(picked) == 0 {
		return nil
	}
	out := make([]Entry, len(picked))
	for i, rec := range picked {
		out[len(picked)-1-i] = rec.entry()
	}
	return out
}

// LinesEach returns the last n entries of each of units (n ≥ 0), oldest
// first, in one pass over the ring: a template's entries are those of all
// its instances, as in Lines.
func (r *Ring) LinesEach(units []string, n int) map[string][]Entry {
	out := make(map[string][]Entry, len(units))
	want := make(map[string]bool, len(units))
	for _, u := range units {
		want[u] = true
	}
	r.mu.Lock()
	picked := map[string][]*record{}
	for i := len(r.buf) - 1; i >= 0; i-- {
		rec := &r.buf[(r.next+i)%len(r.buf)]
		for _, key := range [2]string{rec.unit, ringKey(rec.unit)} {
			if want[key] && len(picked[key]) < n {
				picked[key] = append(picked[key], rec)
			}
			if key == rec.unit && ringKey(key) == key {
				break // not an instance: one key only
			}
		}
	}
	for key, recs := range picked {
		es := make([]Entry, len(recs))
		for i, rec := range recs {
			es[len(recs)-1-i] = rec.entry()
		}
		out[key] = es
	}
	r.mu.Unlock()
	return out
}

// Follow returns the last n entries of unit and a channel of the entries
// that follow them, with nothing lost or repeated in between. cancel ends
// the subscription.
func (r *Ring) Follow(unit string, n int) (backlog []Entry, ch <-chan Entry, cancel func()) {
	f := &follower{key: ringKey(unit), unit: unit, ch: make(chan Entry, 256)}
	r.mu.Lock()
	backlog = r.lines(unit, n)
	r.subs[f] = struct{}{}
	r.mu.Unlock()
	return backlog, f.ch, func() {
		r.mu.Lock()
		delete(r.subs, f)
		r.mu.Unlock()
	}
}

// Units lists the units (templates for instances) that have log entries.
func (r *Ring) Units() []string {
	r.mu.Lock()
	seen := map[string]bool{}
	for i := range r.buf {
		seen[ringKey(r.buf[i].unit)] = true
	}
	r.mu.Unlock()
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Tee returns log with a second core that copies every entry carrying a
// "unit" field at level or above into the ring.
func (r *Ring) Tee(log *zap.Logger, level zapcore.LevelEnabler) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{EncodeDuration: zapcore.StringDurationEncoder})
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, &ringCore{LevelEnabler: level, ring: r, enc: enc})
	}))
}

// ringCore is a zapcore.Core that feeds a Ring.
type ringCore struct {
	zapcore.LevelEnabler
	ring   *Ring
	enc    zapcore.Encoder // fields only: no time, level or message keys
	fields []zapcore.Field
}

func (c *ringCore) With(fields []zapcore.Field) zapcore.Core {
	all := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	all = append(append(all, c.fields...), fields...)
	return &ringCore{LevelEnabler: c.LevelEnabler, ring: c.ring, enc: c.enc, fields: all}
}

func (c *ringCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *ringCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	rec := record{unix: e.Time.UnixNano(), level: e.Level, message: e.Message}
	var rest []zapcore.Field
	for _, list := range [2][]zapcore.Field{c.fields, fields} {
		for _, f := range list {
			switch {
			case f.Key == "unit" && f.Type == zapcore.StringType:
				rec.unit = f.String
			case f.Key == "stream" && f.Type == zapcore.StringType:
				rec.stream = f.String
			case f.Key == "pid" && isInt(f.Type):
				rec.pid = int32(f.Integer)
			default:
				rest = append(rest, f)
			}
		}
	}
	if rec.unit == "" {
		return nil
	}
	if len(rest) > 0 {
		buf, err := c.enc.EncodeEntry(zapcore.Entry{}, rest)
		if err != nil {
			return err
		}
		rec.fields = append([]byte(nil), strings.TrimSpace(buf.String())...)
		buf.Free()
	}
	c.ring.add(&rec, nil)
	return nil
}

func isInt(t zapcore.FieldType) bool {
	switch t {
	case zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type,
		zapcore.Uint64Type, zapcore.Uint32Type, zapcore.Uint16Type, zapcore.Uint8Type:
		return true
	}
	return false
}

func (c *ringCore) Sync() error { return nil }
