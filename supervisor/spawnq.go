package supervisor

import (
	"time"

	"github.com/sockd/sockd/spawner"
)

// spawnJob is a process start handed to a spawn worker.
type spawnJob struct {
	spec *spawner.Spec
	done func(p *spawner.Process, err error, took time.Duration)
}

// startSpawnWorkers starts n goroutines that run spawner.Start for
// asynchronous starts (Accept=yes instances) where the spawner waits for
// the child's execve (through the fork server, or without the no-wait
// clone; see spawner.NoWaitStarts): such a start blocks its thread until
// the execve is done, and with the work on other goroutines the owner
// keeps accepting meanwhile. Results
// come back through s.calls, so unit state is still only touched by the
// owner. quit stops the workers once Run is over.
func (s *Supervisor) startSpawnWorkers(n int, quit <-chan struct{}) {
	s.spawnq = make(chan spawnJob, 64)
	for i := 0; i < n; i++ {
		s.spawnWG.Add(1)
		go func() {
			defer s.spawnWG.Done()
			for j := range s.spawnq {
				t0 := time.Now()
				p, err := s.sp.Start(j.spec)
				took := time.Since(t0)
				select {
				case s.calls <- func() { s.pending--; j.done(p, err, took) }:
				case <-quit:
				}
			}
		}()
	}
}

// spawnAsync queues a start; when every worker is busy and the queue is
// full it starts synchronously instead, so the owner never waits on a
// worker that waits on the owner.
func (s *Supervisor) spawnAsync(spec *spawner.Spec, done func(*spawner.Process, error, time.Duration)) {
	s.pending++
	select {
	case s.spawnq <- spawnJob{spec: spec, done: done}:
	default:
		t0 := time.Now()
		p, err := s.sp.Start(spec)
		s.pending--
		done(p, err, time.Since(t0))
	}
}

// stopSpawnWorkers ends the workers (after Run's loop).
func (s *Supervisor) stopSpawnWorkers() {
	if s.spawnq != nil {
		close(s.spawnq)
		s.spawnWG.Wait()
		s.spawnq = nil
	}
}
