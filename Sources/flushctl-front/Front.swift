import CLibc

// `flushctl` as installed: a small Embedded Swift program that answers `flushctl list` itself
// and hands every other command line, unchanged, to the flushctl program (the regular Swift
// build, with ArgumentParser and everything else).
//
// Why: a regular Swift program starts its runtime and instantiates generic metadata on first
// use, and under an emulator (QEMU TCG, where every distinct instruction is translated again on
// each run, at the run's new random address) that alone made `flushctl list` slower than
// `ndctl list`. Embedded Swift has neither; the listing is compiled from the same sources as
// the flushctl program's (Shared/ holds links to them), and Tests/HostTests/FrontTests.swift
// holds the two to identical output.
// docs/performance.md has the numbers.

/// The program's entry: C's `main` (Embedded Swift has no `CommandLine`), under the name
/// SwiftPM links as `main` (`--defsym main=flushctl_front_main`). Lists, or execs the program.
@_cdecl("flushctl_front_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var arguments: [String] = []
    for i in 1..<max(Int(argc), 1) {
        guard let argument = argv[i] else { break }
        arguments.append(String(cString: argument))
    }
    if let request = ListFastPath.parse(arguments[...]), let text = FrontList.text(request) {
        FileHandleStdout.write(text)
        return 0
    }
    CoreProgram.exec(argv)
}
