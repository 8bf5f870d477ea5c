import { useState, type ReactNode } from "react";

/**
 * A button for a destructive or irreversible action: the first click asks, in words, what
 * will happen; only "Yes, …" does it. Keyboard users land on the answer buttons.
 */
export function ConfirmButton({
  children,
  question,
  confirm,
  onConfirm,
  disabled,
  className,
  ariaLabel,
}: {
  children: ReactNode;
  /** What will happen, as one sentence ("Delete secret db? Deployments that mount it fail."). */
  question: string;
  /** The label of the button that does it ("Yes, delete"). */
  confirm: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
  ariaLabel?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={className} aria-label={ariaLabel} disabled={disabled} onClick={() => setAsking(true)}>
        {children}
      </button>
    );
  }
  return (
    <span role="alertdialog" aria-label="Confirm" aria-describedby={undefined} className="confirm">
      <span className="confirm-question">{question}</span>{" "}
      <button
        type="button"
        className="danger"
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>{" "}
      <button type="button" onClick={() => setAsking(false)}>
        No, keep it
      </button>
    </span>
  );
}
