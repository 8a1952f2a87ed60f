import FERCore

/// Merges raw detector hits the way OpenCV's `groupRectangles(rects, groupThreshold, eps)` does:
///
/// 1. Two boxes are similar when each of their four edges differs by at most
///    `eps · (min(w₁, w₂) + min(h₁, h₂)) / 2`; clusters are the transitive closure of similarity.
/// 2. A cluster with more than `minNeighbors` members becomes the rounded mean of its boxes.
/// 3. A cluster box lying inside another kept cluster box (with `eps`-relative slack) is dropped
///    when the outer cluster has more than max(3, inner count) members, or the inner has < 3.
///
/// `minNeighbors <= 0` returns the input unchanged (as OpenCV).
func groupRectangles(_ rects: [Box], minNeighbors: Int, eps: Double = 0.2) -> [Box] {
    groupRectanglesCounted(rects, minNeighbors: minNeighbors, eps: eps).map(\.box)
}

/// `groupRectangles`, with the number of raw hits behind each kept box.
func groupRectanglesCounted(_ rects: [Box], minNeighbors: Int, eps: Double = 0.2) -> [(box: Box, hits: Int)] {
    guard minNeighbors > 0, !rects.isEmpty else { return rects.map { ($0, 1) } }
    let n = rects.count

    // union–find over similar pairs
    var parent = Array(0..<n)
    func find(_ i: Int) -> Int {
        var r = i
        while parent[r] != r { r = parent[r] }
        var j = i
        while parent[j] != r { let next = parent[j]; parent[j] = r; j = next }
        return r
    }
    func similar(_ a: Box, _ b: Box) -> Bool {
        let delta = eps * Double(min(a.width, b.width) + min(a.height, b.height)) * 0.5
        return Double(abs(a.x - b.x)) <= delta && Double(abs(a.y - b.y)) <= delta
            && Double(abs(a.x + a.width - b.x - b.width)) <= delta
            && Double(abs(a.y + a.height - b.y - b.height)) <= delta
    }
    for i in 0..<n {
        for j in (i + 1)..<n where similar(rects[i], rects[j]) {
            let ri = find(i), rj = find(j)
            if ri != rj { parent[max(ri, rj)] = min(ri, rj) }
        }
    }

    // cluster means, in order of first appearance
    var clusterOf = [Int: Int]()
    var sums: [(x: Int, y: Int, w: Int, h: Int, n: Int)] = []
    for i in 0..<n {
        let r = find(i)
        let c: Int
        if let k = clusterOf[r] { c = k } else { c = sums.count; clusterOf[r] = c; sums.append((0, 0, 0, 0, 0)) }
        let b = rects[i]
        sums[c].x += b.x; sums[c].y += b.y; sums[c].w += b.width; sums[c].h += b.height; sums[c].n += 1
    }
    let means: [(box: Box, n: Int)] = sums.map { s in
        let k = 1.0 / Double(s.n)
        func rnd(_ v: Int) -> Int { Int((Double(v) * k).rounded(.toNearestOrEven)) }
        return (Box(x: rnd(s.x), y: rnd(s.y), width: rnd(s.w), height: rnd(s.h)), s.n)
    }

    var out: [(box: Box, hits: Int)] = []
    for (i, c) in means.enumerated() where c.n > minNeighbors {
        let r1 = c.box
        var inside = false
        for (j, o) in means.enumerated() where j != i && o.n > minNeighbors {
            let r2 = o.box
            let dx = Int((Double(r2.width) * eps).rounded(.toNearestOrEven))
            let dy = Int((Double(r2.height) * eps).rounded(.toNearestOrEven))
            if r1.x >= r2.x - dx && r1.y >= r2.y - dy
                && r1.x + r1.width <= r2.x + r2.width + dx && r1.y + r1.height <= r2.y + r2.height + dy
                && (o.n > max(3, c.n) || c.n < 3) {
                inside = true
                break
            }
        }
        if !inside { out.append((r1, c.n)) }
    }
    return out
}
