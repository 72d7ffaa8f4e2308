import ArgumentParser
import OrderedJSON
import FlushPlanning
import HostIO
import NVDIMMTopology

/// `flushctl plan BACKEND`: how a VMM must handle its guest's flush-hint writes.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Decide how a VMM passes flush hints to a guest NVDIMM backed by BACKEND.",
        discussion: """
            BACKEND is what the VMM backs the guest's NVDIMM with: a device-dax character \
            device, an fsdax block device, or a file. The method is passthrough (map the host's \
            flush-hint pages from /dev/mem into the guest), deep_flush (trap the guest's hint \
            writes and write 1 to the region's deep_flush), fsync (trap them and fsync the \
            backend) or none (the platform needs no flush hints). Passthrough is chosen only when \
            every check passes, including a real mmap of every hint page, which needs root. \
            Without root the flush hints and root's mmap proof come from the cache `flushctl \
            refresh` writes (stderr says so and how old it is); a cache that disagrees with the \
            live topology is not used, so the plan falls back to deep_flush or fsync. \
            With --guest-base the plan includes the guest's DIMMs (one per host DIMM of the \
            region, in interleave order) and their NFIT flush hint address structures.
            """
    )

    @Argument(help: ArgumentHelp("The device or file backing the guest's NVDIMM.", valueName: "backend"))
    var backend: String

    @Option(name: .customLong("guest-base"), help: ArgumentHelp("Guest physical address of the first mapped hint page (page aligned; 0x… or decimal).", valueName: "address"),
            transform: PlanCommand.argument("--guest-base"))
    var guestBase: UInt64?

    @Option(name: .customLong("guest-region"), help: ArgumentHelp("With --guest-base: the guest's pmem range as BASE:SIZE; adds the guest NFIT description that `flushctl nfit build` reads.", valueName: "base:size"),
            transform: PlanCommand.argument("--guest-region"))
    var guestRegion: GuestRange?

    @Flag(name: .customLong("json"), help: "Print the plan as JSON.")
    var json = false

    @OptionGroup var cache: CacheOptions<PlanCommand>

    func validate() throws {
        if guestRegion != nil && guestBase == nil {
            throw ArgumentError("--guest-region needs --guest-base (where the hint pages go)", in: Self.self)
        }
    }

    func run() throws {
        let report = try HostPlanning.plan(backendPath: backend, guestBase: guestBase,
                                           cache: cache.policy)
        if let provenance = report.cache { FileHandleStderr.write("flushctl plan: note: flush hints and checks \(provenance)\n") }
        // The guest NFIT exists only for a passthrough plan (other methods give the guest no
        // host hint pages); its errors (a size the DIMMs cannot share) are bad input.
        let layout = try guestRegion.flatMap { r in try report.plan.guest?.nfitLayout(regionBase: r.base, regionSize: r.size) }
        if json {
            print(planToJSON(report, guestNFIT: layout).prettyPrinted())
        } else {
            print(planToText(report))
            if let layout { print("  guest NFIT (flushctl nfit build):\n" + layout.json.prettyPrinted()) }
        }
    }
}

extension PlanCommand: CachedFacts {
    static let taken = "the flush hints and root's checks"
}

