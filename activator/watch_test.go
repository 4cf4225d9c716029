package activator

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenTCP returns a raw non-blocking listening fd on 127.0.0.1 and its
// address.
func listenTCP(t *testing.T) (int, string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	in := sa.(*unix.SockaddrInet4)
	return fd, net.JoinHostPort("127.0.0.1", itoa(in.Port))
}

func itoa(i int) string { return string(appendInt(nil, i)) }
func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func recv(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func quiet(t *testing.T, ch <-chan Event, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func TestPollerOneShot(t *testing.T) {
	events := make(chan Event, 8)
	p, err := NewPoller(events)
	if err != nil {
		t.Fatal(err)
	}
	go p.Run()
	defer p.Close(true)

	fd, addr := listenTCP(t)
	const tok = 1<<40 + 7 // tokens keep all 64 bits
	if err := p.Watch(fd, tok); err != nil {
		t.Fatal(err)
	}
	quiet(t, events, 50*time.Millisecond)

	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	ev := recv(t, events)
	if ev.Token != tok || ev.Events&unix.EPOLLIN == 0 {
		t.Fatalf("event = %+v", ev)
	}
	// One-shot: the pending connection is not consumed, and not reported
	// again until re-armed.
	quiet(t, events, 100*time.Millisecond)
	if err := p.Rearm(fd, tok); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, events); ev.Token != tok {
		t.Fatalf("after rearm: %+v", ev)
	}
	// The connection is still queued: readiness watching consumed nothing.
	c, err := AcceptConn(fd)
	if err != nil {
		t.Fatalf("accept after watching: %v", err)
	}
	unix.Close(c.FD)
	if _, err := AcceptConn(fd); err != unix.EAGAIN {
		t.Fatalf("second accept: %v, want EAGAIN", err)
	}

	// Disarm silences an armed fd.
	if err := p.Rearm(fd, tok); err != nil {
		t.Fatal(err)
	}
	if err := p.Disarm(fd, tok); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	quiet(t, events, 100*time.Millisecond)
	if err := p.Unwatch(fd); err != nil {
		t.Fatal(err)
	}
	if err := p.Unwatch(fd); err != nil {
		t.Fatalf("second unwatch: %v", err)
	}
}

func TestPollerCloseWhileConsumerGone(t *testing.T) {
	events := make(chan Event) // nobody reads
	p, err := NewPoller(events)
	if err != nil {
		t.Fatal(err)
	}
	go p.Run()
	fd, addr := listenTCP(t)
	if err := p.Watch(fd, 1); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(20 * time.Millisecond) // let Run block on the send
	done := make(chan struct{})
	go func() { p.Close(true); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung while Run was blocked delivering an event")
	}
}
