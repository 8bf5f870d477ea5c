import { can, environmentsOf, rolesIn, type Access } from "./roles";

const read = ["env:read", "blueprint:read", "deploy:read", "secret:read", "cert:read"];
const auditor: Access = {
  isAdmin: false,
  environments: { prod: { roles: ["auditor"], permissions: [...read, "audit:read"] } },
  global: ["audit:read"],
};
const operator: Access = {
  isAdmin: false,
  environments: {
    prod: { roles: ["operator"], permissions: [...read, "blueprint:write", "deploy:request", "deploy:approve", "secret:write"] },
    staging: { roles: ["developer"], permissions: [...read, "blueprint:write"] },
  },
  global: [],
};

describe("can", () => {
  it("offers an auditor no write action, but the audit log", () => {
    for (const p of ["blueprint:write", "deploy:request", "deploy:approve", "secret:write", "users:write"] as const) {
      expect(can(auditor, p, "prod")).toBe(false);
      expect(can(auditor, p, null)).toBe(false);
    }
    expect(can(auditor, "audit:read", null)).toBe(true);
  });

  it("scopes permissions to their environment", () => {
    expect(can(operator, "deploy:approve", "prod")).toBe(true);
    expect(can(operator, "deploy:approve", "staging")).toBe(false);
    expect(can(operator, "blueprint:write", "staging")).toBe(true);
    expect(can(operator, "deploy:request", "dev")).toBe(false);
    expect(can(operator, "deploy:request", null)).toBe(true);
    expect(can(operator, "users:write", null)).toBe(false);
  });

  it("honours global permissions everywhere and denies when signed out", () => {
    const admin: Access = { isAdmin: true, environments: {}, global: ["users:write", "deploy:approve"] };
    expect(can(admin, "users:write", null)).toBe(true);
    expect(can(admin, "deploy:approve", "anything")).toBe(true);
    expect(can(null, "audit:read", null)).toBe(false);
  });

  it("lists environments and roles", () => {
    expect(environmentsOf(operator)).toEqual(["prod", "staging"]);
    expect(rolesIn(operator, "staging")).toBe("developer");
    expect(rolesIn(operator, "nope")).toBe("");
  });
});
