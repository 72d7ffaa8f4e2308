// swift-tools-version:6.0
import PackageDescription

/// swift-system's module, which every target that makes a system call uses.
let swiftSystem: Target.Dependency = .product(name: "SystemPackage", package: "swift-system")

let package = Package(
    name: "flushctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "flushctl", targets: ["flushctl"]),
        .library(name: "NFIT", targets: ["NFIT"]),
        // What a VMM links: the host's topology, the pure planner, and the host I/O that feeds it.
        .library(name: "NVDIMMTopology", targets: ["NVDIMMTopology"]),
        .library(name: "FlushPlanning", targets: ["FlushPlanning"]),
        .library(name: "HostIO", targets: ["HostIO"]),
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
        // zlib's inflate, for /proc/config.gz.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // A store fence and a volatile 8-byte store: the two instructions a flush-hint write needs.
        .target(name: "CMMIO"),
        // statfs(2)'s type, FS_IOC_FSGETXATTR and statx(2)'s mount-root attribute: where a
        // backend's blocks are and whether its directory goes away with its filesystem.
        .target(name: "CLinuxFS"),
        // The one JSON: a strict reader, typed reads that name the path, and json-c style
        // printing with keys in a fixed order, as ndctl prints.
        .target(name: "OrderedJSON"),
        // The ACPI NFIT: decode, validate, encode, and the layout's JSON form. Pure Swift.
        .target(name: "NFIT", dependencies: ["OrderedJSON"]),
        // The coalescing fsync fallback (docs/fsync-fallback.md): no libndctl, no histogram, so a
        // VMM written in Swift can link it alone.
        .target(name: "FsyncFallback", dependencies: [swiftSystem]),
        // The syscall layer on swift-system: small-file reads, durable replacement, and HostError,
        // the error of everything that touches the host.
        .target(name: "HostFiles", dependencies: [swiftSystem]),
        // The NVDIMM topology through libndctl, the NFIT's flush hints joined to its DIMMs, the
        // models, ndctl-style selection for `list`, and the models' JSON.
        .target(
            name: "NVDIMMTopology",
            dependencies: ["CNdctl", "NFIT", "OrderedJSON", "HostFiles", swiftSystem]
        ),
        // Pure decisions: the host facts and their parsers, the checks, the planner, the guest
        // layout and the QEMU recipe. No I/O: every fact is handed in.
        .target(
            name: "FlushPlanning",
            dependencies: ["NVDIMMTopology", "NFIT", "OrderedJSON", "HostFiles", swiftSystem]
        ),
        // The topology cache `flushctl refresh` writes for unprivileged readers: its document,
        // its checks of staleness and ownership, and its atomic replacement.
        .target(
            name: "FactCache",
            dependencies: ["NVDIMMTopology", "FlushPlanning", "NFIT", "OrderedJSON", "HostFiles", swiftSystem]
        ),
        // The host I/O: fact readers, the backend probe, mapping and flushing hint pages, one
        // snapshot of the host, planning a backend from it, and refreshing the cache.
        .target(
            name: "HostIO",
            dependencies: [
                "NVDIMMTopology", "FlushPlanning", "FactCache", "HostFiles", "CMMIO", "CLinuxFS", "CZlib",
                "NFIT", "OrderedJSON", swiftSystem,
            ]
        ),
        // `flushctl bench`: every flush method a host offers, timed into an HDR histogram. Only
        // the command links it, so a VMM that links the library products does not get the histogram.
        .target(
            name: "FlushBench",
            dependencies: [
                "HostIO", "FlushPlanning", "NVDIMMTopology", "HostFiles", "OrderedJSON",
                swiftSystem,
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The command: parses arguments, calls the library, prints its models' JSON or text.
        .executableTarget(
            name: "flushctl",
            dependencies: [
                "NFIT", "NVDIMMTopology", "FlushPlanning", "FactCache", "HostIO", "HostFiles", "FlushBench",
                "OrderedJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                swiftSystem,
            ]
        ),
        // Benchmarks CoalescingFsync against one fsync per request; --check-errors drives the EIO test in the emulated host.
        .executableTarget(
            name: "fsync-bench",
            dependencies: [
                "FsyncFallback", "OrderedJSON",
                swiftSystem,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What NFITTests and FlushctlTests share: the iasl fixtures, running iasl and the built
        // flushctl, temporary directories.
        .target(name: "TestSupport", path: "Tests/TestSupport", resources: [.copy("Fixtures")]),
        .testTarget(name: "NFITTests", dependencies: ["NFIT", "OrderedJSON", "TestSupport"]),
        .testTarget(name: "OrderedJSONTests", dependencies: ["OrderedJSON"]),
        // The library modules' own code (@testable): topology, planning, cache, host I/O, bench.
        .testTarget(
            name: "LibraryTests",
            dependencies: ["NVDIMMTopology", "FlushPlanning", "FactCache", "HostIO", "HostFiles", "FlushBench", "NFIT"]
        ),
        .testTarget(name: "FsyncFallbackTests", dependencies: ["FsyncFallback"]),
        // fsync-bench's own code (@testable).
        .testTarget(name: "FsyncBenchTests", dependencies: ["fsync-bench"]),
        // The flushctl command: its own code (@testable), and the built binary run as a program.
        .testTarget(name: "FlushctlTests", dependencies: ["flushctl", "HostIO", "FlushPlanning", "FlushBench", "NFIT", "TestSupport"]),
        .testTarget(name: "HostTests"),
    ]
)
