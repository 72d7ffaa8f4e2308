import CLibc

// What the shared sources take from Glibc and CLibc cannot give Embedded Swift as it is:
// `errno` (a C macro over a thread-local) and `open` (variadic in C). With these two, the
// shared sources call the same names in both builds.

/// The calling thread's `errno`, as Glibc's Swift overlay provides it.
var errno: CInt { flushctl_errno() }

/// `open(2)` with flags and no mode, as Glibc's Swift overlay provides it.
func open(_ path: UnsafePointer<CChar>, _ oflag: CInt) -> CInt { flushctl_open(path, oflag) }
