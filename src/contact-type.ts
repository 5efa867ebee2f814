/** Who the signed-in visitor is to Reteno. At least one field must be a non-empty string. */
export interface Contact {
  email?: string | null;
  phone?: string | null;
  externalCustomerId?: string | null;
}
