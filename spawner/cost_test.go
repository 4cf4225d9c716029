//go:build linux

package spawner

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpawnCost measures spawn cost like BenchmarkSpawn, but interleaves the
// variants and descriptor counts in small batches and reports medians, so
// that load from other processes hits all of them alike. It only runs with
// SPAWNER_COST=rounds (e.g. 40); it prints a table and never fails.
func TestSpawnCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("SPAWNER_COST"))
	if rounds <= 0 {
		t.Skip("set SPAWNER_COST=rounds to measure")
	}
	const prog, batch = "/bin/true", 20
	env := BaseEnv(nil)
	fs, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	direct, err := New(Options{DirectFork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lfd := rawFD(t, l.(*net.TCPListener))
	spawnWith := func(s *Spawner, sameSession bool, files int) func() {
		spec := &Spec{Path: prog, Env: env, SameSession: sameSession}
		if files == 1 {
			spec.Files, spec.Names, spec.ListenEnv = []int{lfd}, []string{"l"}, true
		}
		return func() {
			p, err := s.Start(spec)
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
		}
	}
	variants := []struct {
		name string
		run  func()
	}{
		{"os.StartProcess", func() {
			p, err := os.StartProcess(prog, []string{prog}, &os.ProcAttr{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			p.Wait()
		}},
		{"spawner-forkserver", spawnWith(fs, false, 0)},
		{"forkserver/files=1", spawnWith(fs, false, 1)},
		{"spawner-direct", spawnWith(direct, false, 0)},
		{"direct/files=1", spawnWith(direct, false, 1)},
		{"forkserver+setpgid", spawnWith(fs, true, 0)},
		{"direct+setpgid", spawnWith(direct, true, 0)},
	}
	levels := []int{10, 5000}
	samples := map[string][]float64{}
	for range rounds {
		for _, level := range levels {
			held := holdFDs(t, level)
			for _, v := range variants {
				start := time.Now()
				for range batch {
					v.run()
				}
				key := fmt.Sprintf("%s/fds=%d", v.name, level)
				samples[key] = append(samples[key], float64(time.Since(start).Nanoseconds())/batch)
			}
			for _, fd := range held {
				unix.Close(fd)
			}
		}
	}
	median := func(k string) float64 {
		s := slices.Clone(samples[k])
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, v := range variants {
		m10, m5000 := median(v.name+"/fds=10"), median(v.name+"/fds=5000")
		base10, base5000 := median("os.StartProcess/fds=10"), median("os.StartProcess/fds=5000")
		t.Logf("%-20s fds=10 %8.0f ns/op (%.2fx os)   fds=5000 %8.0f ns/op (%.2fx os)   5000/10 = %.2f",
			v.name, m10, m10/base10, m5000, m5000/base5000, m5000/m10)
	}
}
