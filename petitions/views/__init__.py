"""petitions' views, by audience: pages (the petition's own pages), embed (the frame on partners'
pages), api (the public JSON API), partner_api (a partner's key-authenticated API), dashboard
(partner users' figures); submission holds the steps the three sign endpoints share."""
