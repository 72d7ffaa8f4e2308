import ArgumentParser
import NFIT
import OrderedJSON
import NVDIMMTopology

/// `flushctl nfit`: decode the ACPI NFIT (`show`, the default) or build one from a layout (`build`).
struct NFITCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfit",
        abstract: "Decode, validate and build ACPI NVDIMM Firmware Interface Tables (NFIT).",
        discussion: """
            The NFIT describes a host's NVDIMMs: the system physical address (SPA) ranges they \
            back, how each DIMM maps into them, each DIMM's control region and its Flush Hint \
            Addresses. Neither the kernel nor libndctl exposes the hint addresses, so flushctl \
            reads the table itself.

            flushctl nfit [show] [PATH] [--json]
            Decode and validate PATH (default /sys/firmware/acpi/tables/NFIT, which only \
            root can read) and print every structure.

            flushctl nfit build SPEC.json -o OUT.aml [--force]
            Write a complete NFIT from a JSON layout description, e.g. for a VMM's guest.

            EXIT STATUS
            0 on success; 2 when the file is missing, unreadable, not an NFIT, malformed, \
            or the layout is invalid (one line on stderr names the file, byte offset or JSON \
            path, and field). Problems that do not stop decoding are printed as warnings on \
            stderr.

            SEE ALSO
            flushctl-nfit(1), docs/nfit.md, iasl(1) -d for ACPICA's disassembly.
            """,
        subcommands: [NFITShowCommand.self, NFITBuildCommand.self],
        defaultSubcommand: NFITShowCommand.self
    )
}

/// `flushctl nfit show [PATH] [--json]`.
struct NFITShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Decode and validate an NFIT and print it (the default subcommand).",
        discussion: """
            Reads the table at PATH, validates it, and prints one block per structure, in \
            table order, with its index and byte offset. Device handles are split into node \
            controller, socket, memory controller, channel and DIMM number; state flags and \
            platform capabilities are named.

            FATAL ERRORS (exit 2)
            Not an NFIT; a truncated table (header length larger than the file); a \
            structure of length 0, shorter than its type needs, or running past the table; \
            a hint, line or window count that does not fit its structure.

            WARNINGS (stderr; the table is still printed)
            Bad checksum; bytes after the table; extra bytes in a structure; duplicate SPA \
            range indexes; a memory device map naming a missing SPA range (index 0, an unmapped \
            DIMM, is allowed) or control region; a hint address not 8-byte aligned; two flush \
            hint structures for one device handle; an unknown structure type; a flush hint \
            structure with no hint or an interleave structure with no line (valid ACPI, but \
            older kernels such as 6.1 then reject the whole NFIT).

            JSON
            --json prints json-c style JSON with snake_case keys; addresses, sizes and \
            handles are "0x..." strings. Each flush hint structure carries its device_handle \
            and every address in hint_addresses.
            """
    )

    /// The sysfs copy of the firmware's NFIT.
    static let sysfsPath = "/sys/firmware/acpi/tables/NFIT"

    @Argument(help: ArgumentHelp("The table file (a raw ACPI table, e.g. from acpidump -b or iasl).",
                                 valueName: "path"))
    var path: String = NFITShowCommand.sysfsPath

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let bytes = try NFITFiles.read(path)
        let result: NFITDecodeResult
        do {
            result = try NFITTable.decode(bytes)
        } catch {
            throw NFITCommandError("\(path): \(error)")
        }
        for warning in result.warnings {
            FileHandleStderr.write("flushctl nfit: warning: \(path): \(warning)\n")
        }
        let checksumValid = !result.warnings.contains { $0.kind == .badChecksum }
        if json {
            print(result.json(checksumValid: checksumValid).prettyPrinted())
        } else {
            print(NFITFormat.text(result, path: path, checksumValid: checksumValid), terminator: "")
        }
    }
}

/// `flushctl nfit build SPEC.json -o OUT.aml`.
struct NFITBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Write an NFIT built from a JSON layout description.",
        discussion: """
            SPEC.json lists regions (SPA ranges) and, in interleave order, their DIMMs with \
            device handles and flush hint addresses. Numbers may be JSON integers or "0x..." \
            strings. Example:

              {"oem_id": "FLUSHC",
               "regions": [{"base": "0x30000000", "size": "0x2000000",
                            "dimms": [{"handle": "0x1", "hints": ["0x37fff000"]},
                                      {"handle": "0x101"}]}]}

            Each region becomes a SPA range; each (region, DIMM) a memory device map (N-way \
            interleave: size/N per DIMM, region offset k x 4 KiB, DPA after the DIMM's earlier \
            regions); each region with N > 1 DIMMs an interleave structure; each distinct DIMM a \
            control region; each distinct DIMM with a "hints" key a flush hint structure (no \
            "hints" key: no structure; "hints": []: a structure with no hint, which kernels \
            such as 6.1 refuse). An optional top-level "platform_capabilities" list \
            (cpu_cache_flush_on_power_loss, memory_controller_flush_on_power_loss, \
            memory_mirroring) adds a platform capabilities structure.

            The output is written durably (temporary file, fsync, rename, fsync of the \
            directory). An existing OUT is replaced only with --force; devices, directories, \
            symbolic links and paths under /sys, /proc and /dev are refused. Errors name the \
            JSON path, e.g. regions[1].dimms[0].hints[2]. The layout format is described in \
            docs/nfit.md.
            """
    )

    @Argument(help: ArgumentHelp("The JSON layout description.", valueName: "spec.json"))
    var spec: String

    @Option(name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp("Where to write the table.", valueName: "out.aml"))
    var output: String

    @Flag(name: .long, help: "Replace OUT if it is an existing regular file.")
    var force = false

    func run() throws {
        let text = try NFITFiles.read(spec)
        let table: NFITTable
        let bytes: [UInt8]
        do {
            table = try NFITLayout.parse(json: text).makeTable()
        } catch {
            throw NFITCommandError("\(spec): \(error)")
        }
        do {
            bytes = try table.encode()
        } catch {
            throw NFITCommandError("\(spec): \(error)")
        }
        try NFITFiles.writeDurably(bytes, to: output, replace: force)
        // What the table will meet: e.g. a "hints": [] DIMM's structure that older kernels refuse.
        if let warnings = try? NFITTable.decode(bytes).warnings {
            for warning in warnings {
            FileHandleStderr.write("flushctl nfit: warning: \(output): \(warning)\n")
            }
        }
    }
}
