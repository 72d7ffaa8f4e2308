import CMMIO
import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import HostFiles
import NVDIMMTopology

/// Which hint of each DIMM a flush writes, as Linux's `nvdimm_flush` chooses.
///
/// Facts from drivers/nvdimm/region_devs.c: a DIMM without hints is skipped; every DIMM
/// uses only its first 2^ilog2(n) hints, n the smallest non-zero hint count among the
/// region's DIMMs (so one index selects a hint on every DIMM); a DIMM whose first hint is
/// the same address as an earlier DIMM's is written once; and the index rotates per call
/// so concurrent flushers hit different hints.
public struct FlushSchedule: Sendable, Equatable {
    /// Per written DIMM, its usable hints (a power of two of them, at least one).
    public let lanes: [[UInt64]]
    /// The DIMMs the lanes belong to (`nmemN`), in the same order.
    public let dimms: [String]

    /// The schedule for `region`'s DIMMs in interleave order.
    public init(region: RegionFacts) throws(HostError) {
        let count = FlushHintPage.usableHintCount(region.dimms)
        guard count > 0 else {
            throw HostError(path: region.name.dev, operation: "schedule", message: "no DIMM of \(region.name) has flush hints")
        }
        var lanes: [[UInt64]] = []
        var dimms: [String] = []
        var firsts: Set<UInt64> = []
        for dimm in region.dimms {
            guard let hints = dimm.flushHints, let first = hints.first else { continue }
            if let bad = hints.prefix(count).first(where: { $0 % 8 != 0 }) {
                throw HostError(path: region.name.dev, operation: "schedule", message: "\(dimm.dev)'s flush hint \(planHex(bad)) is not 8-byte aligned")
            }
            guard firsts.insert(first).inserted else { continue }
            lanes.append(Array(hints.prefix(count)))
            dimms.append(dimm.dev)
        }
        self.lanes = lanes
        self.dimms = dimms
    }

    /// The hint addresses call number `index` writes, one per lane.
    public func targets(call index: UInt) -> [UInt64] {
        lanes.map { $0[Int(index % UInt($0.count))] }
    }

    /// Every page the schedule writes to.
    public var pages: [UInt64] {
        Array(Set(lanes.joined().map(FlushHintPage.page(of:)))).sorted()
    }
}

/// Flushes a region's memory-controller write queues by writing its mapped flush hints,
/// as Linux's `nvdimm_flush` does: store fence, one 8-byte write of 1 to one hint of each
/// DIMM, store fence.
///
/// Swift has neither `volatile` nor `sfence`, so both come from the CMMIO target:
/// `flushctl_writeq` is one volatile 8-byte store (Linux's `writeq`), `flushctl_wmb` is
/// `sfence` (Linux's `wmb()`), which orders every earlier store, non-temporal ones included,
/// on Intel and AMD alike. (A locked instruction, which is what a Swift sequentially
/// consistent fence becomes on x86, is documented to drain write-combining buffers by Intel
/// only.)
public struct RegionFlusher: ~Copyable {
    /// The mapped pages.
    private let pages: MappedHintPages
    /// Which hints each call writes.
    public let schedule: FlushSchedule
    /// The rotating hint index.
    private let counter: Atomic<UInt>
    /// Every lane's registers, resolved once: lane `l`'s hint `i` is at `l * hintsPerLane + i`.
    /// A flush then allocates nothing and cannot fail half-way.
    private let registers: [UnsafeMutableRawPointer]
    /// Hints per lane: the same power of two for every lane (FlushSchedule's rule).
    private let hintsPerLane: Int

    /// Maps the pages `schedule` writes to from `path` (normally /dev/mem). The first flush
    /// uses hint index `firstIndex`; seed it (with the process id, say) so that separate
    /// processes flushing the same region spread over the hints as Linux's per-CPU index does.
    public init(schedule: FlushSchedule, path: String = HintDevice.devMem, firstIndex: UInt = 0) throws(HintMapError) {
        let pages = try MappedHintPages(pages: schedule.pages, path: path)
        let perLane = schedule.lanes.first?.count ?? 0
        guard perLane > 0 else {
            throw HintMapError(path: path, page: 0, call: "schedule", errno: .invalidArgument)
        }
        var registers: [UnsafeMutableRawPointer] = []
        registers.reserveCapacity(schedule.lanes.count * perLane)
        for lane in schedule.lanes {
            // FlushSchedule gives every lane the same power-of-two count of aligned hints, and the
            // pages mapped are exactly the schedule's: a miss here is a broken schedule.
            guard lane.count == perLane, perLane.nonzeroBitCount == 1 else {
                throw HintMapError(path: path, page: lane.first.map(FlushHintPage.page(of:)) ?? 0,
                                   call: "schedule", errno: .invalidArgument)
            }
            for address in lane {
                guard let register = pages.register(at: address) else {
                    throw HintMapError(path: path, page: FlushHintPage.page(of: address), call: "schedule", errno: .invalidArgument)
                }
                registers.append(register)
            }
        }
        self.pages = pages
        self.schedule = schedule
        self.counter = Atomic<UInt>(firstIndex)
        self.registers = registers
        self.hintsPerLane = perLane
    }

    /// Flushes once: store fence, one 8-byte write of 1 to one hint of each lane, store fence.
    /// Returns the call's index; `schedule.targets(call:)` gives the addresses it wrote.
    @discardableResult
    public func flush() -> UInt {
        let index = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let hint = Int(index & UInt(hintsPerLane &- 1))
        flushctl_wmb()
        var at = hint
        while at < registers.count {
            flushctl_writeq(registers[at], 1)
            at += hintsPerLane
        }
        flushctl_wmb()
        return index
    }
}

/// The fallbacks when hints cannot be passed through: the kernel's own flush.
public enum KernelFlush {
    /// Writes "1" to a region's `deep_flush` (`/sys/bus/nd/devices/regionN/deep_flush`), which
    /// makes the kernel run `nvdimm_flush` for the region. Every error is thrown.
    public static func deepFlush(path: String) throws(HostError) {
        let written = try withDescriptor(path, .writeOnly) { fd throws(HostError) in
            do {
                return try fd.writeAll("1\n".utf8)
            } catch {
                throw HostError(path: path, operation: "write", cause: error)
            }
        }
        guard written == 2 else {
            throw HostError(path: path, operation: "write", message: "wrote \(written) of 2 bytes")
        }
    }

    /// fsyncs `path`: its dirty pages and metadata reach the device, and the block layer's
    /// flush reaches the region's DIMMs. Every error is thrown (an fsync error means data
    /// may be lost; it is never turned into success). A VMM should fsync its own descriptor;
    /// this opens a new one, which still sees writeback errors no one has seen.
    public static func fsync(path: String) throws(HostError) {
        try withDescriptor(path, .readOnly) { fd throws(HostError) in
            if Glibc.fsync(fd.rawValue) != 0 {
                throw HostError(path: path, operation: "fsync", cause: Errno.last)
            }
        }
    }

    /// Opens `path` (close-on-exec, retrying EINTR), runs `body` on the descriptor and closes
    /// it. A failing open or close is thrown as a ``HostError`` of step `open` or `close`; when
    /// `body` throws, the descriptor is closed and `body`'s error thrown, not the close's.
    private static func withDescriptor<T>(_ path: String, _ mode: FileDescriptor.AccessMode,
                                          _ body: (FileDescriptor) throws(HostError) -> T) throws(HostError) -> T {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), mode, options: [.closeOnExec], retryOnInterrupt: true)
        } catch {
            throw HostError(path: path, operation: "open", cause: error)
        }
        let result: T
        do throws(HostError) {
            result = try body(fd)
        } catch {
            try? fd.close()
            throw error
        }
        do { try fd.close() } catch {
            throw HostError(path: path, operation: "close", cause: error)
        }
        return result
    }
}
