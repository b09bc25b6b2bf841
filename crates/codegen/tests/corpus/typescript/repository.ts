import { Injectable } from "@angular/core";

export interface Entity {
  id: string;
  touch(): void;
}

/** Storage for entities of one kind. */
export abstract class Repository<T extends Entity> {
  protected readonly items = new Map<string, T>();

  constructor(protected readonly name: string) {}

  abstract validate(item: T): boolean;

  save(item: T): T {
    if (!this.validate(item)) {
      throw new Error(`invalid ${this.name}`);
    }
    this.items.set(item.id, item);
    return item;
  }

  find(id: string): T | undefined {
    return this.items.get(id);
  }

  protected clear(): void {
    this.items.clear();
  }
}

interface User extends Entity {
  email: string;
}

@Injectable({ providedIn: "root" })
export class UserRepository extends Repository<User> {
  constructor() {
    super("user");
  }

  validate(user: User): boolean {
    return user.email.includes("@");
  }

  @Memoize()
  @Log
  async findByEmail(email: string): Promise<User | undefined> {
    await Promise.resolve();
    return [...this.items.values()].find((user) => user.email === email);
  }

  private static normalize(email: string): string {
    return email.trim().toLowerCase();
  }
}

export function parseId(id: string): number;
export function parseId(id: number): number;
export function parseId(id: string | number): number {
  return typeof id === "number" ? id : Number.parseInt(id, 10);
}
