import ArgumentParser
import OrderedJSON
import HostIO
import NVDIMMTopology

/// `flushctl flush REGION|BACKEND`: flush once, the way the plan says.
struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Flush a region's or backend's writes once, by the method flushctl plan chooses.",
        discussion: """
            With a region (regionN), plans as for a device-dax backend: writes one flush hint of \
            each DIMM through /dev/mem when passthrough is proven, else writes 1 to its \
            deep_flush. With a backend path, carries out that backend's plan: hint writes, \
            deep_flush, or fsync. Any error exits 2: a flush that fails is never reported done.
            """
    )

    @Argument(help: ArgumentHelp("A region (regionN) or a backend path.", valueName: "region|backend"))
    var target: String

    @Flag(name: .customLong("json"), help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let report = try RegionName(parsing: target, allowBareNumber: false)
            .map { region in try HostPlanning.plan(region: region, in: try HostSnapshot.read()) }
            ?? HostPlanning.plan(backendPath: target, guestBase: nil)
        let done = try HostPlanning.execute(report.plan, region: report.region)
        if json {
            var members: [(String, JSONValue)] = [("target", .string(target)), ("method", .string(report.plan.method.rawValue))]
            if let region = report.plan.region { members.append(("region", .string(region.dev))) }
            members.append(("result", .string(done)))
            print(JSONValue.object(members).prettyPrinted())
        } else {
            print("\(target): \(report.plan.method.rawValue): \(done)")
        }
    }
}
