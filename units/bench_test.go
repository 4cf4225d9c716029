package units

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

const benchSocket = `[Unit]
Description=Benchmark socket %%n
Before=sockets.target

[Socket]
ListenStream=127.0.0.1:%d
ListenStream=/run/bench/%%p.sock
SocketMode=0660
Backlog=128
# a comment
KeepAlive=yes
FileDescriptorName=bench-%d
TriggerLimitBurst=50

[Install]
WantedBy=sockets.target
`

const benchService = `[Unit]
Description=Benchmark service %%n
After=network.target

[Service]
Type=notify
ExecStart=/usr/bin/bench --port %d \
    --name %%n --verbose
Environment="A=1" B=2
Restart=on-failure
RestartSec=2s
User=nobody
LimitNOFILE=4096
ProtectSystem=strict
`

// writeBenchUnits writes n unit files: n/2 sockets and their services.
func writeBenchUnits(b *testing.B, n int) string {
	dir := b.TempDir()
	for i := 0; i < n/2; i++ {
		name := fmt.Sprintf("bench%05d", i)
		port := 10000 + i
		if err := os.WriteFile(filepath.Join(dir, name+".socket"), []byte(fmt.Sprintf(benchSocket, port, i)), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".service"), []byte(fmt.Sprintf(benchService, port)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkLoad parses and validates n unit files (half sockets, half
// services) from one directory.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			dir := writeBenchUnits(b, n)
			opts := LoadOptions{LookPath: fakeLookPath, Specifiers: NewSpecifierContext("", false)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				set, diags := Load([]string{dir}, opts)
				if len(set.Sockets) != n/2 || diags.HasErrors() {
					b.Fatalf("%d sockets loaded, errors: %v", len(set.Sockets), diags.Err())
				}
			}
		})
	}
}

// BenchmarkLex measures the lexer alone on one typical file.
func BenchmarkLex(b *testing.B) {
	data := []byte(fmt.Sprintf(benchService, 80) + fmt.Sprintf(benchSocket, 80, 1))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		LexBytes(data, "f")
	}
}

// writeHelloUnits writes the peer harness's unit set: n Accept=yes sockets
// hello-N.socket and n template services hello-N@.service.
func writeHelloUnits(b *testing.B, n int) string {
	dir := b.TempDir()
	for i := 1; i <= n; i++ {
		sock := fmt.Sprintf("[Unit]\nDescription=hello, one process per connection (inetd style)\n\n[Socket]\nListenStream=127.0.0.1:%d\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n", 20000+i)
		svc := "[Unit]\nDescription=hello for one connection\n\n[Service]\nExecStart=" + filepath.Join(dir, "hello") + "\nStandardInput=socket\nStandardOutput=socket\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("hello-%d.socket", i)), []byte(sock), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("hello-%d@.service", i)), []byte(svc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkLoadBenchUnits loads the 5,000 sockets + 5,000 templates of the
// listener benchmark (issue 3) and reports, besides time and allocations,
// the heap the returned Set keeps alive after a GC ("retained-B").
//
// On the 2-CPU development machine (medians of 5 interleaved runs of
// -benchtime 10x) it went from 168 ms, 56.9 MB and 577.5k allocations per
// Load and 20.2 MB retained to 61 ms, 29.2 MB, 207.7k and 13.5 MB; of the
// 13.5 MB, 9.8 MB are the 1 KB Socket and Service structs themselves.
func BenchmarkLoadBenchUnits(b *testing.B) {
	const n = 5000
	dir := writeHelloUnits(b, n)
	// The default LookPath, as sockd runs it: ExecStart= names a real
	// executable.
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	// eager reads the templates as sockd verify does; lazy as sockd run
	// does (LazyTemplates: read at their socket's first connection).
	for _, lazy := range []bool{false, true} {
		name := map[bool]string{false: "eager", true: "lazy"}[lazy]
		b.Run(name, func(b *testing.B) {
			opts := LoadOptions{Specifiers: NewSpecifierContext("", false), LazyTemplates: lazy}
			var set *Set
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var diags Diagnostics
				set = nil // the previous Set is garbage while the next one loads
				set, diags = Load([]string{dir}, opts)
				if len(set.Sockets) != n || diags.HasErrors() {
					b.Fatalf("%d sockets loaded, errors: %v", len(set.Sockets), diags.Err())
				}
			}
			b.StopTimer()
			var with, without runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&with)
			runtime.KeepAlive(set)
			set = nil
			runtime.GC()
			runtime.ReadMemStats(&without)
			b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc)), "retained-B")
		})
	}
}
