import { BrowserRouter, NavLink, Navigate, Route, Routes } from 'react-router';
import ClustersPage from './pages/ClustersPage.jsx';
import ComparePage from './pages/ComparePage.jsx';
import PeoplePage from './pages/PeoplePage.jsx';
import SearchPage from './pages/SearchPage.jsx';

const PAGES = [
  ['/', 'Compare'],
  ['/people', 'People'],
  ['/search', 'Search'],
  ['/clusters', 'Clusters'],
];

/** The frame every page shares: the name, the navigation, the page. */
export function Layout({ children }) {
  return (
    <div className="app">
      <header className="app-header">
        <h1>
          <span className="logo" aria-hidden="true">
            ◐
          </span>{' '}
          Likeness
        </h1>
        <p className="tagline">Face verification and search. Everything stays on this server.</p>
        <nav className="tabs" aria-label="Pages">
          {PAGES.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === '/'} className={({ isActive }) => `tab${isActive ? ' active' : ''}`}>
              {label}
            </NavLink>
          ))}
        </nav>
      </header>
      <main>{children}</main>
    </div>
  );
}

export function AppRoutes() {
  return (
    <Layout>
      <Routes>
        <Route path="/" element={<ComparePage />} />
        <Route path="/people" element={<PeoplePage />} />
        <Route path="/people/:personId" element={<PeoplePage />} />
        <Route path="/search" element={<SearchPage />} />
        <Route path="/clusters" element={<ClustersPage />} />
        <Route path="/clusters/:clusterId" element={<ClustersPage />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Layout>
  );
}

export default function App() {
  return (
    <BrowserRouter>
      <AppRoutes />
    </BrowserRouter>
  );
}
