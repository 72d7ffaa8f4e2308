import Foundation
import Testing

/// The docs name only files and Swift symbols that exist (issue 21 item 7).
///
/// For README.md and every docs/*.md, each inline code span (`...`, outside fenced code
/// blocks) is checked by a deliberately simple heuristic:
///
/// - **Paths.** The span is split into words (a command line names paths among its flags). A
///   word is a repository path if it contains a `/` and starts with one of `pathPrefixes`, or
///   ends in one of `pathExtensions`, or is a top-level file (`Package.swift`, `README.md`). It
///   must exist relative to the repository root or to the doc's own directory (as a Markdown
///   link would be read); a bare file name (no `/`) must be the name of some file in the
///   repository. Skipped: absolute host paths (`/dev/...`, `/sys/...`, `/usr/...`: not ours),
///   URLs, globs and placeholders (`*`, `<...>`, `$VAR`, `{a,b}`, or a component such as
///   `NAME`, `N`, `KVER`, `PREFIX`, `regionN`); and, when they do not exist, paths under a
///   directory .gitignore names (generated: `Tests/hostsim/cache/...`), paths of the Linux or
///   QEMU source trees (`drivers/...`), and the few on `notRepositoryFiles`, each with its
///   reason. Link targets `[text](path)` are checked the same way.
/// - **Symbols.** A span that is one UpperCamelCase identifier, optionally followed by
///   `.member`s, each optionally with an argument-label list (`Type.member(label:)`,
///   `Type(label:)`, `Type.member()`; also a lone `.member(label:)` after prose that named the
///   type), names a Swift symbol: every identifier in it must be
///   declared somewhere in Sources/ or Tests/ (`struct|enum|class|protocol|actor|typealias|
///   extension|func|var|let|case NAME`), or be a target (a directory of Sources/ or Tests/), or
///   be on `notOurs`, the short list of names from Swift, its packages and the platform. A
///   member written with its labels (`Type.member(a:b:)`, `Type.member()`) must also match a
///   `func member` of that name whose parameters are those labels, in order, plus any that have
///   a default value (a `func` anywhere: the type is not resolved).
///
/// The test prints every offender as `doc:line: token` and fails if there is one.
@Suite struct DocsTests {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let pathPrefixes = ["Sources/", "Tests/", "docs/", "udev/", "flushhint/", ".ci/", "debian/"]
    static let pathExtensions = [".swift", ".md", ".c", ".h", ".json", ".sh", ".rules", ".conf"]
    static let topLevelFiles = ["Package.swift", "README.md"]
    /// Paths in the Linux or QEMU source trees (`drivers/nvdimm/nd.h`), which docs cite as sources.
    static let foreignPrefixes = ["drivers/", "include/", "arch/", "hw/", "virt/", "mm/", "fs/"]

    /// Path-like names that are not files of this repository, and why. (Paths under a
    /// directory that .gitignore names, such as `Tests/hostsim/cache/`, are skipped too.)
    static let notRepositoryFiles: [String: String] = [
        "layout.json": "an example argument (emulated-host.md: nfit build layout.json)",
        "versions.json": "written into the emulated host's cache",
        "62-flushhint.rules": "written by udev/install.sh at install time (GROUP=)",
        "Tests/hostsim/scenarios/three-dimms.json": "the file a how-to step asks the reader to create",
        "debian/flushctl": "debhelper's staging directory in a Debian source tree, not this repository",
    ]

    /// UpperCamelCase names a doc may use that are not declared in this repository, each with
    /// where it comes from. Keep it short: a name of ours that is missing is what the test is for.
    static let notOurs: Set<String> = [
        // Swift's standard library and runtime
        "String", "Substring", "Character", "Int", "Int32", "UInt8", "UInt32", "UInt64", "Bool",
        "Array", "ContiguousArray", "Dictionary", "Set", "Optional", "Result", "Error", "Never",
        "Hashable", "Equatable", "Codable", "Decodable", "Encodable", "Sendable", "Copyable",
        "Duration", "ContinuousClock", "Task", "CheckedContinuation", "CustomStringConvertible",
        // swift-system (SystemPackage)
        "FileDescriptor", "FilePath", "Errno",
        // swift-argument-parser
        "ArgumentParser", "ParsableCommand", "ExpressibleByArgument", "ValidationError", "ExitCode",
        // Foundation, Swift Testing, hdrhistogram-swift
        "Foundation", "JSONDecoder", "JSONEncoder", "Testing", "Histogram",
        // Glibc, the C library module Swift imports
        "Glibc",
        // ACPI: iasl's names for the integer constants, a device-name pattern (nn: two digits),
        // and shim's UEFI variable of enrolled keys
        "Zero", "One", "Ones", "NVnn", "MokList",
    ]

    struct Offender: CustomStringConvertible {
        var doc: String, line: Int, token: String, why: String
        var description: String { "\(doc):\(line): `\(token)` (\(why))" }
    }

    @Test func docsNameOnlyFilesAndSymbolsThatExist() throws {
        let declared = try Self.declarations()
        let ignored = Self.gitIgnored()
        let fileNames = Self.repositoryFileNames(ignored: ignored)
        var offenders: [Offender] = []
        for doc in Self.docs() {
            let text = try String(contentsOf: Self.root.appendingPathComponent(doc), encoding: .utf8)
            let docDir = (doc as NSString).deletingLastPathComponent
            for (line, span) in Self.codeSpans(in: text) {
                for word in Self.words(of: span) where Self.looksLikePath(word) {
                    if !Self.pathExists(word, docDir: docDir, fileNames: fileNames) && !Self.skippedPath(word, ignored: ignored) {
                        offenders.append(Offender(doc: doc, line: line, token: word, why: "no such file"))
                    }
                }
                // A file's name (`Makefile`, `Package.resolved`) is not a symbol.
                let isFileName = Self.looksLikePath(span) || fileNames.contains(span) || Self.skippedPath(span, ignored: ignored)
                if !isFileName, let names = Self.symbolNames(span) {
                    for name in names where !(declared.names.contains(name) || Self.notOurs.contains(name) || name == "init") {
                        offenders.append(Offender(doc: doc, line: line, token: span, why: "no declaration of \(name)"))
                    }
                    if let call = Self.memberCall(span), let overloads = declared.functions[call.name],
                       !overloads.contains(where: { Self.callable($0, as: call.labels) }) {
                        offenders.append(Offender(doc: doc, line: line, token: span, why: "no func \(call.name)(\(call.labels.map { $0 + ":" }.joined()))"))
                    }
                }
            }
            for (line, target) in Self.linkTargets(in: text) where !Self.pathExists(target, docDir: docDir, fileNames: fileNames) && !Self.skippedPath(target, ignored: ignored) {
                offenders.append(Offender(doc: doc, line: line, token: target, why: "link to no such file"))
            }
        }
        for offender in offenders { print(offender) }
        #expect(offenders.isEmpty, "\(offenders.count) names in the docs that do not exist:\n\(offenders.map(\.description).joined(separator: "\n"))")
    }

    /// Unit checks of the heuristic itself, so that a change to it is deliberate.
    @Test func heuristic() {
        #expect(Self.looksLikePath("Tests/NFITTests/FlushHintScanTests.swift"))
        #expect(Self.looksLikePath("examples/vmm-flush.c"))
        #expect(Self.looksLikePath("dkms.conf"))
        #expect(!Self.looksLikePath("/dev/mem"))
        #expect(!Self.looksLikePath("/sys/bus/nd/devices/region0/deep_flush"))
        #expect(Self.hasPlaceholder("docs/man/flushctl-NAME.1"))
        #expect(Self.skippedPath("Tests/hostsim/cache/nested/", ignored: ["Tests/hostsim/cache/"]))
        #expect(Self.skippedPath("Package.resolved", ignored: ["Package.resolved"]))
        #expect(!Self.skippedPath("Tests/hostsim/run", ignored: ["Tests/hostsim/cache/", ".build/"]))
        #expect(Self.hasPlaceholder("Tests/hostsim/KVER/vmlinuz"))
        #expect(!Self.hasPlaceholder("Tests/hostsim/run"))
        #expect(!Self.looksLikePath("Tests/hostsim/scenarios/*.json"))
        #expect(!Self.looksLikePath("--json"))
        #expect(Self.symbolNames("HostPlanning.readTopology()") == ["HostPlanning", "readTopology"])
        #expect(Self.symbolNames("CoalescingFsync(descriptor:file:method:gathering:)") == ["CoalescingFsync"])
        #expect(Self.symbolNames("NFITTable.deviceHints(decoding:)") == ["NFITTable", "deviceHints"])
        #expect(Self.symbolNames("Int(String)") == nil)
        #expect(Self.symbolNames(".plan(region:in:)") == ["plan"])
        #expect(Self.memberCall(".plan(region:in:)")?.labels == ["region", "in"])
        #expect(Self.symbolNames(".ko.xz") == nil)
        #expect(Self.symbolNames(".syncFailed(Errno)") == nil)
        #expect(Self.memberCall("Planner.plan(backend:region:checks:)")?.labels == ["backend", "region", "checks"])
        #expect(Self.memberCall("RegionFlusher.flush()")?.labels == [])
        #expect(Self.memberCall("CoalescingFsync(descriptor:)") == nil)
        let parsed = Self.parameters(of: "func plan(backend: Backend, region r: RegionFacts?, _ checks: [Check] = [],\n guestBase: UInt64? = nil, f: (Int, Int) -> Void) throws")
        #expect(parsed.map(\.label) == ["backend", "region", "_", "guestBase", "f"])
        #expect(parsed.map(\.hasDefault) == [false, false, true, true, false])
        #expect(Self.callable(parsed, as: ["backend", "region", "f"]))
        #expect(!Self.callable(parsed, as: ["backend", "f"]))
        #expect(!Self.callable(parsed, as: ["region", "backend", "f"]))
        #expect(Self.symbolNames("STRICT_DEVMEM") == nil)
        #expect(Self.symbolNames("flushctl list") == nil)
        #expect(Self.codeSpans(in: "a `b`\n```\n`c`\n```\n`d\ne`").map(\.1) == ["b", "d e"])
        #expect(Self.codeSpans(in: "a `b`\n```\n`c`\n```\n`d\ne`").map(\.0) == [1, 5])
    }

    // MARK: - The docs and their spans

    /// README.md and docs/*.md, relative to the root.
    static func docs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)) ?? []
        return ["README.md"] + names.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    /// Inline code spans with the line each starts on; fenced code blocks are left out, and a
    /// span broken over lines is joined with one space.
    static func codeSpans(in text: String) -> [(Int, String)] {
        var spans: [(Int, String)] = []
        var inFence = false
        var open: (line: Int, text: String)?  // a span begun and not yet closed
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") { inFence.toggle(); open = nil; continue }
            if inFence { continue }
            if trimmed.isEmpty { open = nil; continue }  // a span ends with its paragraph
            for c in line {
                if c == "`" {
                    if let o = open { spans.append((o.line, o.text.trimmingCharacters(in: .whitespaces))); open = nil }
                    else { open = (index + 1, "") }
                } else if open != nil {
                    open!.text.append(c)
                }
            }
            if open != nil { open!.text.append(" ") }
        }
        return spans.map { ($0.0, $0.1.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) }
    }

    /// Relative Markdown link targets, `[text](target)`, without their `#anchor`.
    static func linkTargets(in text: String) -> [(Int, String)] {
        var targets: [(Int, String)] = []
        var inFence = false
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") { inFence.toggle(); continue }
            if inFence { continue }
            var rest = Substring(line)
            while let r = rest.range(of: "](") {
                rest = rest[r.upperBound...]
                guard let end = rest.firstIndex(of: ")") else { break }
                let target = String(rest[..<end].split(separator: "#", omittingEmptySubsequences: false)[0])
                if !target.isEmpty, !target.contains("://"), !target.hasPrefix("mailto:") {
                    targets.append((index + 1, target))
                }
                rest = rest[end...]
            }
        }
        return targets
    }

    // MARK: - Paths

    /// The words of a span, without the punctuation that prose or a command line puts around a
    /// path (`(`, `,`, `:`, a trailing `.`), and the value part of `--flag=value`.
    static func words(of span: String) -> [String] {
        span.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { raw in
            var word = Substring(raw)
            if let eq = word.lastIndex(of: "=") { word = word[word.index(after: eq)...] }
            while let c = word.first, "(\"'[".contains(c) { word = word.dropFirst() }
            while let c = word.last, ")\"',;:].".contains(c) { word = word.dropLast() }
            if let hash = word.firstIndex(of: "#") { word = word[..<hash] }
            return String(word)
        }
    }

    static func looksLikePath(_ word: String) -> Bool {
        if word.isEmpty || word.hasPrefix("/") || word.hasPrefix("~") || word.hasPrefix("-") || word.contains("://") { return false }
        if word.contains(where: { "*<>{}$…".contains($0) }) || word.contains("...") { return false }
        if topLevelFiles.contains(word) { return true }
        if word.contains("/") && pathPrefixes.contains(where: { word.hasPrefix($0) }) { return true }
        return pathExtensions.contains(where: { word.hasSuffix($0) })
    }

    /// A path-like word that does not exist but is not meant to: a placeholder, another source
    /// tree's path, a git-ignored (generated) path, or one on `notRepositoryFiles`.
    static func skippedPath(_ path: String, ignored: [String]) -> Bool {
        if hasPlaceholder(path) || notRepositoryFiles[path] != nil { return true }
        if foreignPrefixes.contains(where: { path.hasPrefix($0) }) { return true }
        return isIgnored(path, ignored: ignored)
    }

    /// Whether one of .gitignore's plain patterns covers `path` (a `dir/` pattern covers what is
    /// beneath it; a name without `/` matches a last component anywhere).
    static func isIgnored(_ path: String, ignored: [String]) -> Bool {
        ignored.contains { pattern in
            pattern.hasSuffix("/")
                ? (path + "/").hasPrefix(pattern) || (!pattern.dropLast().contains("/") && path.split(separator: "/").first.map { $0 + "/" } == pattern)
                : path == pattern || path.hasPrefix(pattern + "/") || path.split(separator: "/").last.map(String.init) == pattern
        }
    }

    /// The plain patterns of the top-level .gitignore (no wildcards), without a leading `/`.
    static func gitIgnored() -> [String] {
        let text = (try? String(contentsOf: root.appendingPathComponent(".gitignore"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.contains("*") }
            .map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
    }

    /// `NAME`, `N`, `KVER`, `PREFIX`, `NAME.json`, `flushctl-VERB.1`, `regionN`: a path with a
    /// component that is, or has a dash-, dot- or underscore-separated part that is, all capitals,
    /// or ends in a capital N after lower case. Asked only of a path that does not exist (so
    /// `Sources/CMMIO` is checked, being real).
    static func hasPlaceholder(_ path: String) -> Bool {
        path.split(separator: "/").contains { component in
            if component.count > 1, component.last == "N", component.dropLast().last?.isLowercase == true { return true }
            return component.split(whereSeparator: { $0 == "-" || $0 == "." || $0 == "_" }).contains { part in
                part.contains(where: \.isLetter) && part.allSatisfy { $0.isUppercase || $0.isNumber }
            }
        }
    }

    static func pathExists(_ path: String, docDir: String, fileNames: Set<String>) -> Bool {
        let fm = FileManager.default
        if !path.contains("/") && !topLevelFiles.contains(path) { return fileNames.contains(path) }
        return fm.fileExists(atPath: root.appendingPathComponent(path).path)
            || fm.fileExists(atPath: root.appendingPathComponent(docDir).appendingPathComponent(path).path)
    }

    /// The names of the files under the root, without build, VCS and git-ignored directories.
    static func repositoryFileNames(ignored: [String]) -> Set<String> {
        var names: Set<String> = []
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return names }
        while let path = walker.nextObject() as? String {
            let first = path.split(separator: "/").first.map(String.init) ?? path
            if first.hasPrefix(".build") || first == ".git" || isIgnored(path, ignored: ignored) { walker.skipDescendants(); continue }
            names.insert((path as NSString).lastPathComponent)
        }
        return names
    }

    // MARK: - Symbols

    /// The identifiers of a span that names a Swift symbol of the kind the docs use, or nil.
    static func symbolNames(_ span: String) -> [String]? {
        // Type(labels:) or Type.member or Type.member(labels:), all the way down; or, after a
        // sentence that named the type, a lone `.member(labels:)` (only with its parentheses:
        // `.ko.xz` is a file suffix, not a member).
        var body = Substring(span)
        let leadingDot = body.hasPrefix(".")
        if leadingDot {
            guard body.hasSuffix(")"), body.dropFirst().first?.isLowercase == true else { return nil }
            body = body.dropFirst()
        }
        var names: [String] = []
        for (index, part) in body.split(separator: ".", omittingEmptySubsequences: false).enumerated() {
            var name = part
            if let paren = part.firstIndex(of: "(") {
                let args = part[part.index(after: paren)...]
                guard args.last == ")" else { return nil }
                let labels = args.dropLast()
                guard labels.isEmpty || (labels.hasSuffix(":") && labels.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })) else { return nil }
                name = part[..<paren]
            }
            guard let first = name.first, first.isLetter || first == "_",
                  name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            if index == 0 && !leadingDot {
                // UpperCamelCase: a capital first, and a lower-case letter somewhere (not NFIT, EIO, MAP_SYNC).
                guard first.isUppercase, name.contains(where: \.isLowercase), !name.contains("_") else { return nil }
            }
            names.append(String(name))
        }
        return names
    }

    /// The last `.member(labels:)` of a span, with its labels (`_` for an unlabelled one).
    static func memberCall(_ span: String) -> (name: String, labels: [String])? {
        guard symbolNames(span) != nil, let last = span.split(separator: ".").last, span.contains("."),
              let paren = last.firstIndex(of: "(") else { return nil }
        let labels = last[last.index(after: paren)...].dropLast().split(separator: ":").map(String.init)
        return (String(last[..<paren]), labels)
    }

    struct Parameter { var label: String; var hasDefault: Bool }

    /// The parameters of a `func` declaration that starts `text`: each one's argument label (the
    /// first word before its `:`) and whether it has a default value (a `=` outside brackets).
    static func parameters(of text: Substring) -> [Parameter] {
        guard let open = text.firstIndex(of: "(") else { return [] }
        var params: [Parameter] = []
        var depth = 0, current = "", previous: Character = " "
        func finish() {
            let head = current.split(separator: ":", maxSplits: 1).first ?? ""
            if let label = head.split(whereSeparator: { $0 == " " || $0 == "\n" }).first {
                let afterColon = current.split(separator: ":", maxSplits: 1).dropFirst().first ?? ""
                params.append(Parameter(label: String(label), hasDefault: afterColon.contains("=")))
            }
            current = ""
        }
        for c in text[text.index(after: open)...] {
            switch c {
            case "(", "[": depth += 1
            case "<" : depth += 1
            case ">" where previous != "-": depth -= 1
            case ")", "]": if depth == 0 { finish(); return params }; depth -= 1
            case "," where depth == 0: finish(); previous = c; continue
            default: break
            }
            current.append(c)
            previous = c
        }
        return params
    }

    /// Whether a func with `params` can be called with exactly `labels`: the labels in order,
    /// every parameter left out having a default.
    static func callable(_ params: [Parameter], as labels: [String]) -> Bool {
        var rest = labels[...]
        for param in params {
            if rest.first == param.label { rest = rest.dropFirst() } else if !param.hasDefault { return false }
        }
        return rest.isEmpty
    }

    struct Declarations { var names: Set<String> = []; var functions: [String: [[Parameter]]] = [:] }

    /// Every name declared in a Swift file under Sources/ or Tests/, the target names, and each
    /// func's parameters.
    static func declarations() throws -> Declarations {
        let fm = FileManager.default
        var result = Declarations()
        let declaration = try Regex(#"\b(struct|enum|class|protocol|actor|typealias|extension|func|var|let)\s+([A-Za-z_][A-Za-z0-9_]*)"#)
        let cases = try Regex(#"\bcase\s+([A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?(?:\s*=\s*[^,\n]+)?(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?(?:\s*=\s*[^,\n]+)?)*)"#)
        for top in ["Sources", "Tests"] {
            let dir = root.appendingPathComponent(top).path
            result.names.formUnion(try fm.contentsOfDirectory(atPath: dir))
            guard let walker = fm.enumerator(atPath: dir) else { continue }
            while let path = walker.nextObject() as? String {
                guard path.hasSuffix(".swift") else { continue }
                let text = try String(contentsOfFile: dir + "/" + path, encoding: .utf8)
                for match in text.matches(of: declaration) {
                    guard let kind = match.output[1].substring, let name = match.output[2].substring else { continue }
                    result.names.insert(String(name))
                    if kind == "func" { result.functions[String(name), default: []].append(parameters(of: text[match.range.upperBound...])) }
                }
                for match in text.matches(of: cases) {
                    guard let list = match.output[1].substring else { continue }
                    for item in list.split(separator: ",") {
                        let name = item.trimmingCharacters(in: .whitespaces).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                        if !name.isEmpty { result.names.insert(String(name)) }
                    }
                }
            }
        }
        return result
    }
}
