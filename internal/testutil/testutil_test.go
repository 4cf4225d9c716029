package testutil

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Children finds a running child, and the same child as a zombie once it
// has exited and is not waited for yet.
func TestChildren(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	state := func() byte {
		for _, c := range Children(t) {
			if c.Pid == cmd.Process.Pid {
				return c.State
			}
		}
		return 0
	}
	if s := state(); s == 0 || s == 'Z' {
		t.Fatalf("running child: state %q", s)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for state() != 'Z' {
		if time.Now().After(deadline) {
			t.Fatalf("killed child not seen as a zombie (state %q)", state())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
