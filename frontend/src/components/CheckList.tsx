/**
 * Choose several of a known list (groups of a user, members of a group): a fieldset of
 * checkboxes, so nothing can be typed that does not exist. The error sits under the legend.
 */
export function CheckList({
  legend,
  options,
  value,
  onChange,
  error,
  empty,
}: {
  legend: string;
  options: string[];
  value: string[];
  onChange: (v: string[]) => void;
  error?: string;
  empty: string;
}) {
  const toggle = (o: string, on: boolean) => onChange(on ? [...value, o].sort() : value.filter((v) => v !== o));
  return (
    <fieldset className={`checklist${error ? " invalid" : ""}`}>
      <legend>{legend}</legend>
      {options.length === 0 ? <span className="muted">{empty}</span> : null}
      {options.map((o) => (
        <label key={o} className="check">
          <input type="checkbox" checked={value.includes(o)} onChange={(e) => toggle(o, e.target.checked)} /> {o}
        </label>
      ))}
      {error ? <span className="field-error">{error}</span> : null}
    </fieldset>
  );
}
