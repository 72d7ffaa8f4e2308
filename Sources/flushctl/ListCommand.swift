import ArgumentParser
import OrderedJSON
#if canImport(Glibc)
import Glibc
#endif
import FactCache
import HostIO
import NVDIMMTopology

/// `flushctl list`: `ndctl list` with flush hints.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List NVDIMM buses, DIMMs, regions and namespaces with their flush hints.",
        discussion: """
            Prints what `ndctl list` prints, with the same options, keys and nesting, and adds \
            each DIMM's Flush Hint Addresses ("flush_hints", from the ACPI NFIT) and, on each \
            region, its physical start ("resource"), its deep_flush attribute and the 4 KiB \
            pages holding its DIMMs' hints ("flush_hint_pages"). Without -B, -D, -R or -N only \
            namespaces are listed, as ndctl does. The NFIT is readable by root only: without \
            root the flush hints come from the cache `flushctl refresh` writes (see \
            --cache), checked against the live topology and never used when stale; stderr says \
            so and how old it is. Without root and without a usable cache the flush-hint keys \
            are left out and a note says why. JSON when \
            stdout is not a terminal or with --json; a table otherwise.
            """
    )

    @Option(name: [.short, .customLong("bus")], help: ArgumentHelp("Only this bus: name, provider, number, or all.", valueName: "bus-id"))
    var bus: String?
    @Option(name: [.short, .customLong("region")], help: ArgumentHelp("Only this region: name, number, or all.", valueName: "region-id"))
    var region: String?
    @Option(name: [.short, .customLong("dimm")], help: ArgumentHelp("Only this DIMM: name, number, or all.", valueName: "dimm-id"))
    var dimm: String?
    @Option(name: [.short, .customLong("namespace")], help: ArgumentHelp("Only this namespace: name, X.Y, or all.", valueName: "namespace-id"))
    var namespace: String?
    @Option(name: [.short, .customLong("mode")], help: ArgumentHelp("Only namespaces in this mode (fsdax, sector, devdax, raw).", valueName: "namespace-mode"),
            transform: ListCommand.argument("--mode"))
    var mode: NamespaceMode?
    @Option(name: [.short, .customLong("type")], help: ArgumentHelp("Only regions of this type (pmem, blk).", valueName: "region-type"),
            transform: ListCommand.argument("--type"))
    var type: RegionType?

    @Flag(name: [.customShort("B"), .customLong("buses")], help: "Include buses.")
    var buses = false
    @Flag(name: [.customShort("D"), .customLong("dimms")], help: "Include DIMMs (and region mappings).")
    var dimms = false
    @Flag(name: [.customShort("R"), .customLong("regions")], help: "Include regions.")
    var regions = false
    @Flag(name: [.customShort("N"), .customLong("namespaces")], help: "Include namespaces (the default).")
    var namespaces = false
    @Flag(name: [.customShort("X"), .customLong("device-dax")], help: "Include device-dax details.")
    var deviceDax = false
    @Flag(name: [.short, .customLong("idle")], help: "Include idle (disabled) devices.")
    var idle = false
    @Flag(name: [.short, .customLong("configured")], help: "Include configured namespaces, disabled or not.")
    var configured = false
    @Flag(name: [.customShort("u"), .customLong("human")], help: "Human-friendly numbers: sizes in GiB (GB), handles and offsets in hex.")
    var human = false
    @Flag(name: [.short, .customLong("verbose")], help: "More detail (repeat up to 3 times).")
    var verbose: Int
    @Flag(name: .customLong("json"), help: "Print JSON even when stdout is a terminal.")
    var json = false
    @OptionGroup var cache: CacheOptions<ListCommand>

    func run() throws {
        try Self.list(options, json: json, cache: cache.policy)
    }

    /// The options as the library takes them.
    var options: ListOptions {
        ListOptions(buses: buses, dimms: dimms, regions: regions, namespaces: namespaces, idle: idle,
                    configured: configured, deviceDax: deviceDax, human: human, verbose: verbose,
                    bus: bus, region: region, dimm: dimm, namespace: namespace, type: type, mode: mode)
    }

    /// Reads, selects and prints.
    static func list(_ options: ListOptions, json: Bool, cache: CachePolicy = .never) throws {
        let resolved = options.resolved()
        let snapshot = try HostSnapshot.read(cache: cache, needsHints: { resolved.needsFlushHints(on: $0) })
        if let provenance = snapshot.provenance {
            FileHandleStderr.write("flushctl list: note: flush hints \(provenance)\n")
        } else if let note = snapshot.note {
            FileHandleStderr.write("flushctl list: note: \(note)\n")
        }
        let listing = snapshot.topology.listing(options)
        FileHandleStdout.write(listingText(listing, hasFlushHints: snapshot.topology.hasFlushHints, json: json))
    }
}

extension ListCommand: CachedFacts {
    static let taken = "the flush hints"
}
