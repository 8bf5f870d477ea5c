import { can, environmentsOf } from "./roles";

const auditor = { isAdmin: false, roles: { prod: ["auditor"], staging: ["auditor"] } };
const opProd = { isAdmin: false, roles: { prod: ["operator"], staging: ["developer"] } };

describe("can", () => {
  it("gives an auditor no write action anywhere, but the audit log", () => {
    for (const a of ["blueprint.upload", "deployment.start", "deployment.approve", "deployment.apply", "deployment.rollback", "secret.write", "admin.manage"] as const) {
      expect(can(auditor, a, "prod")).toBe(false);
      expect(can(auditor, a, null)).toBe(false);
    }
    expect(can(auditor, "audit.read", "prod")).toBe(true);
    expect(can(auditor, "audit.verify", null)).toBe(true);
  });

  it("scopes roles to their environment", () => {
    expect(can(opProd, "deployment.approve", "prod")).toBe(true);
    expect(can(opProd, "deployment.approve", "staging")).toBe(false);
    expect(can(opProd, "blueprint.upload", "staging")).toBe(true);
    expect(can(opProd, "deployment.start", "dev")).toBe(false);
    expect(can(opProd, "admin.manage", null)).toBe(false);
  });

  it("lets a global admin do everything and nobody do anything when signed out", () => {
    expect(can({ isAdmin: true, roles: {} }, "admin.manage", null)).toBe(true);
    expect(can(null, "audit.read", null)).toBe(false);
  });

  it("lists only environments with a role", () => {
    expect(environmentsOf({ isAdmin: false, roles: { b: ["auditor"], a: ["developer"], c: [] } })).toEqual(["a", "b"]);
  });
});
