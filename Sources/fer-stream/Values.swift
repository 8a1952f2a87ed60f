import ArgumentParser
import Datasets
import FERStream

// The options' value sets: parsing validates them, and help, manual pages and completions list them.
extension OutputFormat: ExpressibleByArgument {}
extension TestTimeAugmentation: ExpressibleByArgument {}
extension EngineKind: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension DetectorOptions.Kind: ExpressibleByArgument {}
extension StreamOptions.RTSPTransport: ExpressibleByArgument {}
extension FER2013.Split: ExpressibleByArgument {}

extension CropsPerFace: ExpressibleByArgument {
    public init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let n = Int(argument), (1...10).contains(n) else { return nil }
        self = .fixed(n)
    }

    public static var defaultCompletionKind: CompletionKind { .list(["auto", "1", "2", "4", "10"]) }
}

/// `eval --format`.
enum ReportFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}
