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

// Values whose text can be wrong in more than one way are read through an option's `transform:`
// so that ArgumentParser's usage error says why, after naming the option ("The value 'tau:0' is
// invalid for '--smooth <smooth>': tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5");
// `ExpressibleByArgument`'s failable init could only say that the value is invalid.

extension Smoothing {
    /// `--smooth`: the library's parser, its reason as the usage error.
    @Sendable static func argument(_ text: String) throws -> Smoothing {
        do { return try Smoothing(parsing: text) } catch { throw ValidationError(error.reason) }
    }
}

/// `--framing`: how a face with landmarks is cut out (`DetectorOptions.alignment`).
struct Framing: Sendable, Equatable {
    /// nil: the box's square (`box`).
    var alignment: FaceCropper.Alignment?

    /// SCALE,CENTRE (0 < SCALE < 10, −1 < CENTRE < 2) or `box`.
    init(argument text: String) throws {
        if text == "box" { alignment = nil; return }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
        guard parts.count == 2, let scale = parts[0], let centre = parts[1], scale > 0, scale < 10, centre > -1, centre < 2 else {
            throw ValidationError("expected SCALE,CENTRE with 0 < SCALE < 10 and -1 < CENTRE < 2 (e.g. 3,0.4), or box")
        }
        alignment = FaceCropper.Alignment(scale: scale, centre: centre)
    }
}
