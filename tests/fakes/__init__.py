"""Local fake ticketing APIs (Eventbrite, Ticket Tailor, Ticketor) served over real HTTP for tests."""
