import Foundation
import Testing

/// `flushctl list` against `ndctl list` in the emulated host: for every scenario, one boot runs
/// both with the same options; every object ndctl lists must be listed by flushctl, every key
/// they share must carry the same value, and the flush-hint keys must match the scenario's NFIT.
@Suite(.serialized) struct ListMatchesNdctlTests {
    /// ndctl options compared (flushctl gets the same plus `--json`).
    static let variants = [
        "-BDRN", "-BDRNu", "", "-RDi", "-vv", "-N -r region0", "-D -d nmem0 -R", "-R -n 0.0",
        "-Ru", "-b nosuchbus", "-BN", "-DN",
    ]
    /// Runs `command` as `nobody` (busybox `su`; the guest's /etc/passwd only has root, so add it).
    static func asNobody(_ command: String) -> String {
        "grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd; "
            + "su nobody -s /bin/sh -c '\(command)'"
    }

    /// Keys ndctl prints that flushctl does not (health, firmware, capabilities, media errors).
    static let keysOnlyNdctlHas: Set<String> = [
        "health", "firmware", "capabilities", "badblocks", "online_memblocks", "total_memblocks", "movable",
    ]
    /// Keys only flushctl prints.
    static let flushctlKeys: Set<String> = ["flush_hints", "resource", "deep_flush", "flush_hint_pages"]

    static var scenariosDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("hostsim/scenarios")
    }

    /// Every scenario: `name` for Tests/hostsim/scenarios/name.json, `dir/name` one level down.
    static var scenarios: [String] {
        let fm = FileManager.default
        var names: [String] = []
        for entry in (try? fm.contentsOfDirectory(atPath: scenariosDirectory.path)) ?? [] {
            if entry.hasSuffix(".json") { names.append(String(entry.dropLast(5))); continue }
            let sub = scenariosDirectory.appendingPathComponent(entry).path
            for file in (try? fm.contentsOfDirectory(atPath: sub)) ?? [] where file.hasSuffix(".json") {
                names.append(entry + "/" + String(file.dropLast(5)))
            }
        }
        // A scenario marked "kernel_rejects" does not come up (ScenarioTests asserts that it fails).
        return names.filter { !kernelRejects($0) }.sorted()
    }

    /// Whether the scenario file says the guest kernel cannot boot it.
    static func kernelRejects(_ scenario: String) -> Bool {
        let file = scenariosDirectory.appendingPathComponent(scenario + ".json")
        guard let data = try? Data(contentsOf: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["kernel_rejects"] != nil
    }

    /// What `EmulatedHost.run` takes: a plain name, or the file's path for a scenario in a subfolder.
    static func hostsimArgument(_ scenario: String) -> String {
        scenario.contains("/") ? scenariosDirectory.appendingPathComponent(scenario + ".json").path : scenario
    }

    @Test func everyScenarioNamedInTheBriefExists() {
        for name in ["none", "hints", "interleave", "shared-page", "nohints", "qemu-nvdimm"] {
            #expect(Self.scenarios.contains(name), "scenario \(name) missing from \(Self.scenariosDirectory.path)")
        }
    }

    @Test(arguments: scenarios)
    func listMatchesNdctl(scenario: String) throws {
        var commands: [String] = []
        for v in Self.variants {
            commands.append("ndctl list \(v)")
            commands.append("flushctl list \(v) --json")
        }
        commands.append("flushctl list -BDRN")  // stdout is not a terminal: JSON without --json
        commands.append(Self.asNobody("ndctl list -BDRN"))
        commands.append(Self.asNobody("flushctl list -BDRN --json"))
        commands.append(Self.asNobody("id -u; cat /sys/firmware/acpi/tables/NFIT > /dev/null"))
        let results = try EmulatedHost.run(scenario: Self.hostsimArgument(scenario), commands: commands)
        try #require(results.count == commands.count, "expected \(commands.count) results, got \(results.count)")

        for (i, v) in Self.variants.enumerated() {
            let nd = results[2 * i], fc = results[2 * i + 1]
            let label = "\(scenario): list \(v)"
            #expect(nd.status == 0, "\(label): ndctl exited \(nd.status): \(nd.stderr)")
            #expect(fc.status == 0, "\(label): flushctl exited \(fc.status): \(fc.stderr)")
            let ndJSON = try parse(nd.stdout, label + " (ndctl)")
            let fcJSON = try parse(fc.stdout, label + " (flushctl)")
            compare(ndJSON, fcJSON, path: label,
                    human: v.split(separator: " ").contains { $0.hasPrefix("-") && $0.contains("u") })
        }
        let n = 2 * Self.variants.count
        #expect(results[n].stdout == results[1].stdout, "\(scenario): JSON without --json differs when piped")

        // Flush hints of the -BDRN listing against the scenario's NFIT.
        let expected = try Self.expectedHints(scenario: scenario)
        let full = try parse(results[1].stdout, "\(scenario): flushctl list -BDRN")
        checkHints(full, expected: expected, scenario: scenario)

        // Unprivileged: the same objects as unprivileged ndctl, no hint keys, one note, exit 0.
        let ndUser = results[n + 1], fcUser = results[n + 2], catUser = results[n + 3]
        #expect(catUser.stdout == "65534\n", "\(scenario): su did not drop to nobody: \(catUser.stdout) \(catUser.stderr)")
        if scenario != "none" {
            #expect(catUser.status != 0, "\(scenario): nobody could read the NFIT, so the unprivileged run proves nothing")
        }
        #expect(fcUser.status == 0, "\(scenario): unprivileged flushctl exited \(fcUser.status): \(fcUser.stderr)")
        let userJSON = try parse(fcUser.stdout, "\(scenario): unprivileged flushctl")
        compare(try parse(ndUser.stdout, "\(scenario): unprivileged ndctl"), userJSON,
                path: "\(scenario): unprivileged list -BDRN", human: false)
        #expect(!containsKey(userJSON, "flush_hints") && !containsKey(userJSON, "flush_hint_pages"),
                "\(scenario): unprivileged output has flush-hint keys")
        if results[0].stdout.isEmpty {
            // No bus (no NVDIMM, or the kernel rejected the scenario's NFIT): nothing to note.
            #expect(fcUser.stderr == "", "\(scenario): a host without NVDIMMs needs no note: \(fcUser.stderr)")
        } else {
            let notes = fcUser.stderr.split(separator: "\n")
            #expect(notes.count == 1, "\(scenario): expected one note on stderr, got: \(fcUser.stderr)")
            #expect(fcUser.stderr.contains("/sys/firmware/acpi/tables/NFIT") && fcUser.stderr.contains("root"),
                    "\(scenario): the note must name the file and the privilege: \(fcUser.stderr)")
        }
        if scenario == "none" || results[0].stdout.isEmpty {
            for r in results.prefix(n) { #expect(r.stdout == "", "\(scenario): \(r.command) printed \(r.stdout)") }
        }
    }

    /// Disabled namespaces and regions: hidden by default, listed with -i (and -c), as ndctl does.
    @Test func disabledObjectsMatchNdctl() throws {
        let steps: [(setup: String, options: [String])] = [
            ("ndctl disable-namespace namespace0.0 > /dev/null 2>&1; ", ["-N", "-Ni", "-Nc"]),
            ("ndctl disable-region region0 > /dev/null 2>&1; ", ["-BRDNi", "-RD", "-R", "-Dc", "-Ri -u"]),
        ]
        var commands: [String] = []
        for step in steps {
            for (i, o) in step.options.enumerated() {
                commands.append((i == 0 ? step.setup : "") + "ndctl list \(o)")
                commands.append("flushctl list \(o) --json")
            }
        }
        let results = try EmulatedHost.run(scenario: "interleave", commands: commands)
        try #require(results.count == commands.count)
        var listedSomething = false
        for i in stride(from: 0, to: results.count, by: 2) {
            let nd = results[i], fc = results[i + 1]
            let label = "interleave, disabled: \(fc.command)"
            #expect(nd.status == 0 && fc.status == 0, "\(label): \(nd.stderr) \(fc.stderr)")
            let ndJSON = try parse(nd.stdout, label + " (ndctl)")
            listedSomething = listedSomething || ndJSON != nil
            compare(ndJSON, try parse(fc.stdout, label + " (flushctl)"), path: label, human: fc.command.contains("-u"))
        }
        #expect(listedSomething, "ndctl listed nothing in any step: the disable commands did not leave anything to compare")
    }

    // MARK: - Comparison

    func parse(_ text: String, _ label: String) throws -> Any? {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return nil }
        do {
            return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            Issue.record("\(label): not JSON: \(error)\n\(text)")
            return nil
        }
    }

    /// ndctl's value must be found in flushctl's: same shape, same objects, same shared keys.
    func compare(_ nd: Any?, _ fc: Any?, path: String, human: Bool) {
        switch (nd, fc) {
        case (nil, nil): return
        case (nil, let fc?): Issue.record("\(path): ndctl printed nothing, flushctl printed \(fc)")
        case (let nd?, nil): Issue.record("\(path): flushctl printed nothing, ndctl printed \(nd)")
        case let (nd as [String: Any], fc as [String: Any]):
            for (key, value) in nd {
                guard let mine = fc[key] else {
                    if !Self.keysOnlyNdctlHas.contains(key) { Issue.record("\(path): flushctl lacks key \"\(key)\"") }
                    continue
                }
                compare(value, mine, path: "\(path).\(key)", human: human)
            }
            for key in fc.keys where nd[key] == nil && !Self.flushctlKeys.contains(key) {
                Issue.record("\(path): flushctl has key \"\(key)\" that ndctl does not print here")
            }
        case let (nd as [Any], fc as [Any]):
            if nd.count != fc.count {
                Issue.record("\(path): ndctl lists \(nd.count), flushctl \(fc.count): \(ids(nd)) vs \(ids(fc))")
            }
            for (i, element) in nd.enumerated() {
                let id = identity(element)
                let match = id.flatMap { id in fc.first { identity($0) == id } } ?? (i < fc.count ? fc[i] : nil)
                compare(element, match, path: "\(path)[\(id ?? String(i))]", human: human)
            }
        case let (nd as String, fc as String):
            // ndctl 76 prints a -u hex value above INT64_MAX as 0x7fffffffffffffff (json_object_get_int64
            // clamps; fixed in ndctl 77): flushctl prints the real value.
            if nd != fc && !(human && nd == "0x7fffffffffffffff" && fc.hasPrefix("0x") && fc.count == 18) {
                Issue.record("\(path): ndctl \"\(nd)\", flushctl \"\(fc)\"")
            }
        case let (nd as NSNumber, fc as NSNumber):
            if nd != fc { Issue.record("\(path): ndctl \(nd), flushctl \(fc)") }
        default:
            Issue.record("\(path): different kinds: ndctl \(String(describing: nd)), flushctl \(String(describing: fc))")
        }
    }

    func identity(_ value: Any) -> String? {
        guard let object = value as? [String: Any] else { return nil }
        return (object["dev"] ?? object["dimm"] ?? object["chardev"]) as? String
    }

    func ids(_ array: [Any]) -> [String] { array.map { identity($0) ?? "?" } }

    func containsKey(_ value: Any?, _ key: String) -> Bool {
        if let object = value as? [String: Any] {
            return object[key] != nil || object.values.contains { containsKey($0, key) }
        }
        if let array = value as? [Any] { return array.contains { containsKey($0, key) } }
        return false
    }

    // MARK: - Flush hints

    /// Hint addresses per handle from the scenario's NFIT layout; QEMU's own NFIT has none.
    static func expectedHints(scenario: String) throws -> [UInt32: [UInt64]] {
        func load(_ url: URL) throws -> [String: Any] {
            let data = try Data(contentsOf: url)
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(url.path) is not an object")
        }
        let file = scenariosDirectory.appendingPathComponent(scenario + ".json")
        var document = try load(file)
        if let reference = document["nfit"] as? String {
            // A layout borrowed from another scenario, relative to this one's folder.
            let other = file.deletingLastPathComponent().appendingPathComponent(reference).standardizedFileURL
            document = ["nfit": try load(other)["nfit"] as Any]
        }
        guard let nfit = document["nfit"] as? [String: Any] else { return [:] }
        var hints: [UInt32: [UInt64]] = [:]
        for region in nfit["regions"] as? [[String: Any]] ?? [] {
            for dimm in region["dimms"] as? [[String: Any]] ?? [] {
                let handle = try #require(number(dimm["handle"]).flatMap { UInt32(exactly: $0) }, "bad handle in \(scenario)")
                let addresses = try (dimm["hints"] as? [Any] ?? []).map { try #require(number($0), "bad hint in \(scenario)") }
                hints[handle, default: []] += addresses
            }
        }
        return hints
    }

    static func number(_ value: Any?) -> UInt64? {
        if let s = value as? String {
            return s.hasPrefix("0x") ? UInt64(s.dropFirst(2), radix: 16) : UInt64(s)
        }
        return (value as? NSNumber)?.uint64Value
    }

    /// Each DIMM's `flush_hints` equals the scenario's list for its handle, and each region's
    /// `flush_hint_pages` holds exactly its DIMMs' hints that Linux uses, with `shared_with` naming the other
    /// regions that have a hint in the same page.
    func checkHints(_ listing: Any?, expected: [UInt32: [UInt64]], scenario: String) {
        let buses = listing as? [[String: Any]] ?? []
        var hintsByDIMM: [String: [UInt64]] = [:]
        for bus in buses {
            for dimm in bus["dimms"] as? [[String: Any]] ?? [] {
                let dev = dimm["dev"] as? String ?? "?"
                guard let handle = (dimm["handle"] as? NSNumber)?.uint32Value else {
                    Issue.record("\(scenario): \(dev) has no handle"); continue
                }
                let want = expected[handle] ?? []
                let got = (dimm["flush_hints"] as? [String])?.compactMap { Self.number($0) }
                #expect(got == want, "\(scenario): \(dev) (handle \(handle)) flush_hints \(String(describing: got)), NFIT has \(want)")
                hintsByDIMM[dev] = want
            }
        }
        var pagesByRegion: [String: Set<UInt64>] = [:]
        var regions: [[String: Any]] = []
        for bus in buses { regions += bus["regions"] as? [[String: Any]] ?? [] }
        for region in regions {
            let dev = region["dev"] as? String ?? "?"
            let dimms = (region["mappings"] as? [[String: Any]] ?? []).compactMap { $0["dimm"] as? String }
            // Linux uses the first 2^ilog2(n) hints of each DIMM, n the region's smallest non-zero
            // count: only those pages are the bus's, and only those are listed.
            let smallest = dimms.map { hintsByDIMM[$0]?.count ?? 0 }.filter { $0 > 0 }.min() ?? 0
            let usable = smallest == 0 ? 0 : 1 << (Int.bitWidth - 1 - smallest.leadingZeroBitCount)
            var want: Set<String> = []
            for d in dimms { for h in (hintsByDIMM[d] ?? []).prefix(usable) { want.insert("\(h & ~0xfff) \(d) \(h & 0xfff)") } }
            guard let pages = region["flush_hint_pages"] as? [[String: Any]] else {
                Issue.record("\(scenario): \(dev) has no flush_hint_pages"); continue
            }
            var got: Set<String> = []
            for page in pages {
                let base = Self.number(page["page"]) ?? 1
                #expect(base % 4096 == 0 && Self.number(page["size"]) == 4096, "\(scenario): \(dev) bad page \(page)")
                for hint in page["hints"] as? [[String: Any]] ?? [] {
                    // A JSON number (ndctl prints offsets as numbers without -u), not "0x…".
                    #expect(!(hint["offset"] is String) && Self.number(hint["offset"]) != nil,
                            "\(scenario): \(dev) hint offset \(hint["offset"] ?? "none") is not a number")
                    got.insert("\(base) \(hint["dimm"] as? String ?? "?") \(Self.number(hint["offset"]) ?? 9999)")
                }
                pagesByRegion[dev, default: []].insert(base)
            }
            #expect(got == want, "\(scenario): \(dev) flush_hint_pages \(got.sorted()), expected \(want.sorted())")
        }
        for region in regions {
            let dev = region["dev"] as? String ?? "?"
            for page in region["flush_hint_pages"] as? [[String: Any]] ?? [] {
                let base = Self.number(page["page"]) ?? 1
                let others = Set(pagesByRegion.filter { $0.key != dev && $0.value.contains(base) }.keys)
                let shared = Set(page["shared_with"] as? [String] ?? ["?"])
                #expect(shared == others, "\(scenario): \(dev) page \(base) shared_with \(shared.sorted()), expected \(others.sorted())")
            }
        }
    }
}
