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

/// `eval --format`.
enum ReportFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}
