package supervisor

import "time"

// rateLimit is systemd's RateLimit: at most burst events per interval,
// counted in a window that opens at the first event. A zero interval or
// burst disables it.
type rateLimit struct {
	interval time.Duration
	burst    int
	begin    time.Time
	n        int
}

// allow counts one event at now and reports whether it is within the limit.
func (r *rateLimit) allow(now time.Time) bool {
	if r == nil || r.interval <= 0 || r.burst <= 0 {
		return true
	}
	if r.begin.IsZero() || now.Sub(r.begin) >= r.interval {
		r.begin, r.n = now, 0
	}
	if r.n >= r.burst {
		return false
	}
	r.n++
	return true
}

// windowEnd is when the current window closes (when a paused fd may be
// watched again).
func (r *rateLimit) windowEnd() time.Time { return r.begin.Add(r.interval) }

func (r *rateLimit) reset() { r.begin, r.n = time.Time{}, 0 }

// newRateLimit returns a limiter, or nil when interval or burst disables
// it: (*rateLimit)(nil).allow always allows, and a listener of a unit that
// switched the limit off does not carry one.
func newRateLimit(interval time.Duration, burst int) *rateLimit {
	if interval <= 0 || burst <= 0 {
		return nil
	}
	return &rateLimit{interval: interval, burst: burst}
}
