package control

import (
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultRingSize is how many log entries the daemon keeps per unit.
const DefaultRingSize = 200

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

// Ring keeps the last entries of every unit in memory and fans new ones
// out to followers. It is safe for concurrent use.
type Ring struct {
	size int

	mu   sync.Mutex
	logs map[string]*unitLog
	subs map[*follower]struct{}
}

type unitLog struct {
	buf  []Entry
	next int // where the next entry goes once buf is full
}

type follower struct {
	key  string
	unit string
	ch   chan Entry
}

// NewRing returns a ring keeping size entries per unit.
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{size: size, logs: map[string]*unitLog{}, subs: map[*follower]struct{}{}}
}

// ringKey groups Accept=yes instances under their template, so the
// number of rings stays bounded by the number of loaded units.
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
	key := ringKey(e.Unit)
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.logs[key]
	if l == nil {
		l = &unitLog{}
		r.logs[key] = l
	}
	if len(l.buf) < r.size {
		l.buf = append(l.buf, e)
	} else {
		l.buf[l.next] = e
		l.next = (l.next + 1) % r.size
	}
	for f := range r.subs {
		if f.key == key && matches(f.unit, e.Unit) {
			select {
			case f.ch <- e:
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
	l := r.logs[ringKey(unit)]
	if l == nil {
		return nil
	}
	out := make([]Entry, 0, len(l.buf))
	for i := range l.buf {
		e := l.buf[(l.next+i)%len(l.buf)]
		if matches(unit, e.Unit) {
			out = append(out, e)
		}
	}
	if n >= 0 && len(out) > n {
		out = out[len(out)-n:]
	}
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

// Units lists the units that have log entries.
func (r *Ring) Units() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for k := range r.logs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Tee returns log with a second core that copies every entry carrying a
// "unit" field at level or above into the ring.
func (r *Ring) Tee(log *zap.Logger, level zapcore.LevelEnabler) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, &ringCore{LevelEnabler: level, ring: r})
	}))
}

// ringCore is a zapcore.Core that feeds a Ring.
type ringCore struct {
	zapcore.LevelEnabler
	ring   *Ring
	fields []zapcore.Field
}

func (c *ringCore) With(fields []zapcore.Field) zapcore.Core {
	all := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	all = append(append(all, c.fields...), fields...)
	return &ringCore{LevelEnabler: c.LevelEnabler, ring: c.ring, fields: all}
}

func (c *ringCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *ringCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	unit, _ := enc.Fields["unit"].(string)
	if unit == "" {
		return nil
	}
	delete(enc.Fields, "unit")
	en := Entry{Time: e.Time, Level: e.Level.String(), Unit: unit, Message: e.Message}
	if s, ok := enc.Fields["stream"].(string); ok {
		en.Stream = s
		delete(enc.Fields, "stream")
	}
	switch pid := enc.Fields["pid"].(type) {
	case int64:
		en.PID = int(pid)
		delete(enc.Fields, "pid")
	case int:
		en.PID = pid
		delete(enc.Fields, "pid")
	}
	for k, v := range enc.Fields {
		if d, ok := v.(time.Duration); ok {
			enc.Fields[k] = d.String() // not nanoseconds in JSON
		}
	}
	if len(enc.Fields) > 0 {
		en.Fields = enc.Fields
	}
	c.ring.Add(en)
	return nil
}

func (c *ringCore) Sync() error { return nil }
