export namespace Geometry {
  export interface Point {
    x: number;
    y: number;
  }

  export function distance(a: Point, b: Point): number {
    return Math.hypot(b.x - a.x, b.y - a.y);
  }

  function square(value: number): number {
    return value * value;
  }

  export namespace Shapes {
    export class Circle {
      constructor(public readonly center: Point, public readonly radius: number) {}

      area(): number {
        return Math.PI * square(this.radius);
      }

      contains(point: Point): boolean {
        return distance(this.center, point) <= this.radius;
      }
    }
  }
}

namespace Internal.Cache {
  const entries = new Map<string, unknown>();

  export function remember<T>(key: string, compute: () => T): T {
    if (!entries.has(key)) {
      entries.set(key, compute());
    }
    return entries.get(key) as T;
  }
}

declare module "legacy-geo" {
  export function toRadians(degrees: number): number;
}

export const midpoint = (a: Geometry.Point, b: Geometry.Point): Geometry.Point => ({
  x: (a.x + b.x) / 2,
  y: (a.y + b.y) / 2,
});

export async function loadPoints(url: string, signal?: AbortSignal): Promise<Geometry.Point[]> {
  const response = await fetch(url, { signal });
  return (await response.json()) as Geometry.Point[];
}

type Transform = (point: Geometry.Point) => Geometry.Point;

const identity: Transform = (point) => point;

export default function translate(dx: number, dy: number): Transform {
  return (point) => ({ x: point.x + dx, y: point.y + dy });
}
