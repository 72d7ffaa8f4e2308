import ArgumentParser
// Placeholder: being written (issue 2).
struct NFITCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nfit", abstract: "Decode the ACPI NFIT (not yet written).")
    func run() throws { throw ExitCode(2) }
}
