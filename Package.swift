// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The Embedded Swift libraries of the toolchain whose `swiftc` is first on PATH (the one
/// building, as .ci/run and the README set it up): SwiftPM links Embedded executables without
/// them, and `flushctl-front` needs its Unicode tables.
let embeddedLibraries: String = {
    let path = Context.environment["PATH"] ?? ""
    for directory in path.split(separator: ":") {
        let swiftc = URL(fileURLWithPath: String(directory)).appendingPathComponent("swiftc")
        guard FileManager.default.isExecutableFile(atPath: swiftc.path) else { continue }
        return swiftc.resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("../lib/swift/embedded/x86_64-unknown-linux-gnu").standardized.path
    }
    return "/usr/lib/swift/embedded/x86_64-unknown-linux-gnu"
}()

let package = Package(
    name: "flushctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "flushctl", targets: ["flushctl"]),
        // Installed as `flushctl`, with the above in libexec/flushctl (udev/install.sh).
        .executable(name: "flushctl-front", targets: ["flushctl-front"]),
        .library(name: "NFIT", targets: ["NFIT"]),
        .library(name: "FlushHint", targets: ["FlushHint"]),
        // The coalescing fsync fallback alone, for a VMM that links nothing else of flushctl.
        .library(name: "FsyncFallback", targets: ["FsyncFallback"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // libndctl and libdaxctl, as Debian's libndctl-dev / libdaxctl-dev ship them.
        .systemLibrary(
            name: "CNdctl",
            pkgConfig: "libndctl",
            providers: [.apt(["libndctl-dev", "libdaxctl-dev", "uuid-dev"])]
        ),
        // A store fence and a volatile 8-byte store: the two instructions a flush-hint write needs.
        .target(name: "CMMIO"),
        // The ACPI NFIT: decode, validate, encode. Pure Swift, no dependency.
        .target(name: "NFIT"),
        // json-c style pretty printing with keys in a fixed order, as ndctl prints.
        .target(name: "OrderedJSON"),
        // The coalescing fsync fallback (docs/fsync-fallback.md): no libndctl, no histogram, so a
        // VMM written in Swift can link it alone.
        .target(
            name: "FsyncFallback",
            dependencies: [.product(name: "SystemPackage", package: "swift-system")]
        ),
        // The host: topology through libndctl, flush-hint pages, plans, flushing.
        .target(
            name: "FlushHint",
            dependencies: [
                "CNdctl", "CMMIO", "NFIT",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The C library for Embedded Swift code, which has no Glibc module.
        .target(name: "CLibc"),
        // `flushctl list` in Embedded Swift (no runtime start-up, no generic metadata), compiled
        // from links to the same sources as the command's list; every other command line is
        // handed to the command. Installed as `flushctl`.
        .executableTarget(
            name: "flushctl-front",
            dependencies: ["CNdctl", "CLibc"],
            swiftSettings: [
                .enableExperimentalFeature("Embedded"),
                // One section per function, so that the linker's --gc-sections drops what the
                // front never calls (the NFIT decoder and its hashing: it would need libm).
                .unsafeFlags(["-wmo", "-Osize", "-package-name", "flushctl", "-Xfrontend", "-function-sections"]),
            ],
            linkerSettings: [
                .unsafeFlags(["-enable-experimental-feature", "Embedded", "-L", embeddedLibraries,
                              "-Xlinker", "--gc-sections"]),
                // Autolinking is off in Embedded Swift: CNdctl's libraries and the Unicode
                // tables that String comparison and splitting need.
                .linkedLibrary("ndctl"), .linkedLibrary("daxctl"),
                // libm's ceil (Set and Dictionary capacities) is called by the NFIT decoder's
                // cross-checks, which only debug builds keep: release --gc-sections drops them
                // with everything else the front never calls, and a release front without
                // libm is one library fewer to load on every run.
                .linkedLibrary("m", .when(configuration: .debug)),
                .linkedLibrary("swiftUnicodeDataTables"),
            ]
        ),
        // The command; it only parses arguments and formats.
        .executableTarget(
            name: "flushctl",
            dependencies: [
                "NFIT", "FlushHint", "OrderedJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks CoalescingFsync against one fsync per request; --check-errors drives the EIO test in the emulated host.
        .executableTarget(
            name: "fsync-bench",
            dependencies: [
                "FsyncFallback", "OrderedJSON",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NFITTests", dependencies: ["NFIT"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OrderedJSONTests", dependencies: ["OrderedJSON"]),
        .testTarget(name: "FlushHintTests", dependencies: ["FlushHint", "NFIT"]),
        .testTarget(name: "FsyncFallbackTests", dependencies: ["FsyncFallback"]),
        // fsync-bench's own code (@testable).
        .testTarget(name: "FsyncBenchTests", dependencies: ["fsync-bench"]),
        // The flushctl command's own code (@testable): the `list` fast path against ArgumentParser.
        .testTarget(
            name: "FlushctlTests",
            dependencies: ["flushctl", "FlushHint", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "HostTests"),
    ]
)
