// 2-D geometry helpers with discriminated unions: areas, bounding boxes, point tests.

export interface Point {
  x: number;
  y: number;
}

export type Shape =
  | { kind: 'circle'; center: Point; radius: number }
  | { kind: 'rect'; origin: Point; width: number; height: number }
  | { kind: 'polygon'; points: Point[] };

export class InvalidShapeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidShapeError';
  }
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

export function validate(shape: Shape): Shape {
  switch (shape.kind) {
    case 'circle':
      if (shape.radius <= 0) throw new InvalidShapeError('radius must be positive');
      break;
    case 'rect':
      if (shape.width <= 0 || shape.height <= 0) throw new InvalidShapeError('empty rectangle');
      break;
    case 'polygon':
      if (shape.points.length < 3) throw new InvalidShapeError('a polygon needs 3 points');
      break;
  }
  return shape;
}

/** Area; polygons use the shoelace formula (absolute value). */
export function area(shape: Shape): number {
  switch (validate(shape).kind) {
    case 'circle':
      return Math.PI * (shape as { radius: number }).radius ** 2;
    case 'rect': {
      const r = shape as { width: number; height: number };
      return r.width * r.height;
    }
    default: {
      const pts = (shape as { points: Point[] }).points;
      let sum = 0;
      for (let i = 0; i < pts.length; i += 1) {
        const next = pts[(i + 1) % pts.length];
        sum += pts[i].x * next.y - next.x * pts[i].y;
      }
      return Math.abs(sum) / 2;
    }
  }
}

export function contains(shape: Shape, p: Point): boolean {
  if (shape.kind === 'circle') return distance(shape.center, p) <= shape.radius;
  if (shape.kind === 'rect') {
    const { origin, width, height } = shape;
    return p.x >= origin.x && p.x <= origin.x + width && p.y >= origin.y && p.y <= origin.y + height;
  }
  let inside = false;
  const pts = shape.points;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i, i += 1) {
    const crosses = pts[i].y > p.y !== pts[j].y > p.y;
    if (crosses && p.x < ((pts[j].x - pts[i].x) * (p.y - pts[i].y)) / (pts[j].y - pts[i].y) + pts[i].x) {
      inside = !inside;
    }
  }
  return inside;
}

export function boundingBox(points: Point[]): { min: Point; max: Point } {
  if (points.length === 0) throw new InvalidShapeError('no points');
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  return { min: { x: Math.min(...xs), y: Math.min(...ys) }, max: { x: Math.max(...xs), y: Math.max(...ys) } };
}
