import SystemPackage
#if canImport(Glibc)
import Glibc
#endif
import FlushPlanning
import NVDIMMTopology

/// Why a hint page could not be mapped, with the errno and what to do.
public struct HintMapError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file mapped from (normally /dev/mem).
    public var path: String
    /// The page's physical address (the mmap offset).
    public var page: UInt64
    /// The failing call (`open`, `mmap`).
    public var call: String
    /// The error.
    public var errno: Errno

    /// Creates an error.
    public init(path: String, page: UInt64, call: String, errno: Errno) {
        self.path = path
        self.page = page
        self.call = call
        self.errno = errno
    }

    /// The error as one line, naming what was wrong and where.
    public var description: String {
        var text = "cannot map page \(planHex(page)) of \(path): \(call): \(errno)"
        switch (call, errno) {
        case ("open", .notPermitted), ("open", .permissionDenied):
            text += " (opening \(path) needs CAP_SYS_RAWIO; run as root)"
        case ("mmap", .notPermitted):
            text += " (the kernel restricts /dev/mem: with CONFIG_IO_STRICT_DEVMEM boot with iomem=relaxed)"
        case ("mmap", .invalidArgument):
            text += " (the kernel refused the caching mode or the offset; see flushctl check)"
        default:
            break
        }
        return text
    }
}

/// The flush-hint pages of a region, mapped from /dev/mem and owned: they are unmapped when
/// this value goes away, and since it cannot be copied they are unmapped exactly once
/// (the ownership model of swift-system's `IORing`).
///
/// /dev/mem is opened `O_RDWR | O_SYNC`: without `O_SYNC` the kernel asks for a write-back
/// mapping, which PAT refuses because the kernel itself maps the hint pages uncached
/// (`nvdimm_map`), and a write-back mapping would let hint writes sit in the cache.
public struct MappedHintPages: ~Copyable {
    /// Physical page address and where it is mapped, ascending by page.
    private let mappings: [(page: UInt64, base: UnsafeMutableRawPointer)]
    /// The file the pages were mapped from.
    public let path: String
    /// Maps every page in `pages` (page aligned physical addresses) from `path`, or none:
    /// if one fails, those already mapped are unmapped and the error is thrown.
    public init(pages: [UInt64], path: String = HintDevice.devMem) throws(HintMapError) {
        self.path = path
        let size = Int(FlushHintPage.pageSize)
        let distinct = Array(Set(pages)).sorted()
        var done: [(page: UInt64, base: UnsafeMutableRawPointer)] = []
        func undo() { for m in done { munmap(m.base, size) } }

        if let bad = distinct.first(where: { $0 % FlushHintPage.pageSize != 0 || $0 > UInt64(Int64.max) }) {
            throw HintMapError(path: path, page: bad, call: "mmap", errno: .invalidArgument)
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [FileDescriptor.OpenOptions(rawValue: O_SYNC), .closeOnExec], retryOnInterrupt: true)
        } catch let error as Errno {
            throw HintMapError(path: path, page: distinct.first ?? 0, call: "open", errno: error)
        } catch {
            throw HintMapError(path: path, page: distinct.first ?? 0, call: "open", errno: .ioError)
        }
        // The mappings outlive the descriptor.
        defer { try? fd.close() }
        for page in distinct {
            let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, off_t(page))
            guard let base, base != MAP_FAILED else {
                let error = Errno.last
                undo()
                throw HintMapError(path: path, page: page, call: "mmap", errno: error)
            }
            done.append((page, base))
        }
        self.mappings = done
    }

    deinit {
        for m in mappings { munmap(m.base, Int(FlushHintPage.pageSize)) }
    }

    /// The mapped pages' physical addresses, ascending.
    public var pages: [UInt64] { mappings.map(\.page) }

    /// The mapped 8-byte register at physical address `address`; `nil` when its page is not
    /// mapped or it is not 8-byte aligned.
    func register(at address: UInt64) -> UnsafeMutableRawPointer? {
        guard address % 8 == 0 else { return nil }
        let page = FlushHintPage.page(of: address)
        guard let m = mappings.first(where: { $0.page == page }) else { return nil }
        return m.base + Int(address - page)
    }
}
