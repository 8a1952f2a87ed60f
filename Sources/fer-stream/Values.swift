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

/// Camera settings are handed to FFmpeg as text; the numeric forms are checked here first, so a
/// typo or an absurd number is a usage error naming the option, not a device error later.
/// Names (FFmpeg's abbreviations: `vga`, `hd720`, `4k`; `ntsc`, `film`) are left to FFmpeg.
enum CameraValue {
    static func checkVideoSize(_ text: String) throws {
        if isName(text) && text.contains(where: { $0.isLetter && $0 != "x" }) { return }  // vga, sxga, 4k
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        // Int(_:) is nil past Int's range, so no number of digits can overflow.
        guard parts.count == 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), let w = Int(parts[0]), let h = Int(parts[1]),
              (1...16384).contains(w), (1...16384).contains(h) else {
            throw ValidationError("--video-size must be WxH with sides 1…16384 (e.g. 640x480) or a name FFmpeg knows (vga, hd720), not '\(text)'")
        }
    }

    static func checkFrameRate(_ text: String) throws {
        if isName(text) && text.first!.isLetter { return }  // ntsc, pal, film
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") } }),
              let numerator = Double(parts[0]), let denominator = parts.count == 2 ? Double(parts[1]) : 1,
              denominator > 0, numerator / denominator > 0, numerator / denominator <= 1000 else {
            throw ValidationError("--framerate must be a rate in frames per second, above 0 and at most 1000 (30, 29.97, 30000/1001), not '\(text)'")
        }
    }

    /// Lower-case letters, digits and '-': what FFmpeg's named sizes and rates are made of.
    private static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }
}

/// `eval --format`.
enum ReportFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}
