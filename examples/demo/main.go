// Command sockd-demo is the service side of sockd's example units: small
// socket-activated servers written with go-systemd's activation package,
// exactly as a service written for systemd would be.
//
//	sockd-demo http      HTTP on every passed listener
//	sockd-demo echo      echo server on every passed stream listener
//	sockd-demo udp-echo  answer each datagram with "echo: " + the datagram
//	sockd-demo fifo      print the lines written to the passed FIFO
//
// Each mode exits after --idle without traffic, so sockd's lazy start can
// be seen again and again.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

func main() {
	idle := flag.Duration("idle", 30*time.Second, "exit after this long without traffic (0 = never)")
	flag.Parse()
	log.SetFlags(0)
	mode := flag.Arg(0)
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if *idle > 0 {
		go func() {
			for range time.Tick(time.Second) {
				if time.Since(time.Unix(0, last.Load())) > *idle {
					log.Printf("%s: idle for %v, exiting (sockd starts me again on the next request)", mode, *idle)
					os.Exit(0)
				}
			}
		}()
	}
	switch mode {
	case "http":
		// go-systemd unsets LISTEN_* once it has taken the fds.
		fdnames := os.Getenv("LISTEN_FDNAMES")
		lns, err := activation.ListenersWithNames()
		if err != nil || len(lns) == 0 {
			log.Fatalf("http: no sockets passed (LISTEN_FDS): %v", err)
		}
		started := time.Now()
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			touch()
			fmt.Fprintf(w, "hello from pid %d, socket-activated by sockd %v ago (LISTEN_FDNAMES=%s)\n",
				os.Getpid(), time.Since(started).Round(time.Millisecond), fdnames)
		})
		for name, ls := range lns {
			for _, l := range ls {
				log.Printf("http: serving %s (%s)", l.Addr(), name)
				go func(l net.Listener) { log.Fatal(http.Serve(l, mux)) }(l)
			}
		}
		select {}
	case "echo":
		lns, err := activation.Listeners()
		if err != nil || len(lns) == 0 {
			log.Fatalf("echo: no sockets passed: %v", err)
		}
		for _, l := range lns {
			go func(l net.Listener) {
				for {
					c, err := l.Accept()
					if err != nil {
						log.Fatal(err)
					}
					touch()
					go func() { defer c.Close(); io.Copy(c, c) }()
				}
			}(l)
		}
		select {}
	case "udp-echo":
		pcs, err := activation.PacketConns()
		if err != nil || len(pcs) == 0 {
			log.Fatalf("udp-echo: no sockets passed: %v", err)
		}
		for _, pc := range pcs {
			go func(pc net.PacketConn) {
				buf := make([]byte, 64<<10)
				for {
					n, addr, err := pc.ReadFrom(buf)
					if err != nil {
						log.Fatal(err)
					}
					touch()
					pc.WriteTo(append([]byte("echo: "), buf[:n]...), addr)
				}
			}(pc)
		}
		select {}
	case "fifo":
		files := activation.Files(true)
		if len(files) == 0 {
			log.Fatal("fifo: no files passed")
		}
		sc := bufio.NewScanner(files[0])
		for sc.Scan() {
			touch()
			fmt.Printf("fifo: %s\n", strings.TrimSpace(sc.Text()))
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: sockd-demo [--idle D] http|echo|udp-echo|fifo")
		os.Exit(2)
	}
}
