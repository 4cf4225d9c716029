package units

import (
	"fmt"
	"os"
	"path/filepath"
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
