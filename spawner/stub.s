// This file is intentionally empty apart from this comment. Its presence
// lets the package declare body-less functions that are provided through
// //go:linkname (the runtime's fork hooks) or by per-architecture assembly.
