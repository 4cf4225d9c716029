//go:build linux && (386 || arm || mips || mipsle || mips64 || mips64le || s390x)

package spawner

// The raw fork path uses the 64-bit credential system calls (the 32-bit
// architectures have 16-bit setgroups/setresuid under these numbers) and
// clone's argument order of amd64/arm64 (s390x swaps the first two), and
// rt_sigaction with a 64-signal set and the handler first (mips has 128
// signals and puts sa_flags first).
// Refuse to build rather than run services with wrong credentials.
var _ = spawnerDoesNotSupportThisArchitecture
