package supervisor

import (
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		interval time.Duration
		burst    int
		at       []time.Duration // event times after t0
		want     []bool
	}{
		{"disabled by interval", 0, 1, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"disabled by burst", time.Second, 0, []time.Duration{0, 0}, []bool{true, true}},
		{"burst then refuse", 2 * time.Second, 2, []time.Duration{0, time.Second, 1500 * time.Millisecond}, []bool{true, true, false}},
		{"window reopens", 2 * time.Second, 1, []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second}, []bool{true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rateLimit{interval: tt.interval, burst: tt.burst}
			for i, d := range tt.at {
				if got := r.allow(t0.Add(d)); got != tt.want[i] {
					t.Errorf("event %d at %v: allow = %v, want %v", i, d, got, tt.want[i])
				}
			}
		})
	}
}
