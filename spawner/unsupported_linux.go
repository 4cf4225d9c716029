//go:build linux && (386 || arm || mips || mipsle || s390x)

package spawner

// The raw fork path uses the 64-bit credential system calls (the 32-bit
// architectures have 16-bit setgroups/setresuid under these numbers) and
// clone's argument order of amd64/arm64 (s390x swaps the first two).
// Refuse to build rather than run services with wrong credentials.
var _ = spawnerDoesNotSupportThisArchitecture
